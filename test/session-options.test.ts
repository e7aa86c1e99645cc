import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, type SessionStore, type SessionUpdate } from '../lib/index.ts'
import { build, fakeClock, sessionCookie } from './fixtures/app.ts'

const DAY = 24 * 3600
const MONTH = 30 * DAY

/** A MemoryStore that keeps the last update it was given, to see the TTL and maxAge the plugin sends. */
function watchedStore (): { store: SessionStore, memory: MemoryStore, last: () => SessionUpdate } {
  const memory = new MemoryStore()
  let last: SessionUpdate | null = null
  return {
    memory,
    last: () => last as SessionUpdate,
    store: {
      load: (id) => memory.load(id),
      save: (id, update) => { last = update; return memory.save(id, update) },
      destroy: (id) => memory.destroy(id),
      close: () => { memory.close() }
    }
  }
}

function routes (app: FastifyInstance): void {
  app.post('/login', async (request) => {
    const session = await request.loadSession()
    session.set('user', 'ada')
    const remember = (request.query as { remember?: string }).remember
    if (remember !== undefined) session.options({ maxAge: remember === 'null' ? null : Number(remember) })
    return 'ok'
  })
  app.post('/remember', async (request) => {
    const session = await request.loadSession()
    session.options({ maxAge: Number((request.query as { maxAge: string }).maxAge) })
    return 'ok'
  })
  app.post('/forget', async (request) => {
    (await request.loadSession()).options({ maxAge: null })
    return 'ok'
  })
  app.get('/read', async (request) => {
    const session = await request.loadSession()
    return { reason: session.reason, user: session.get('user') ?? null, expiresAt: session.expiresAt, createdAt: session.createdAt }
  })
  // @fastify/csrf-protection's '@fastify/secure-session' mode calls options({ userInfo }).
  app.get('/csrf-like', async (request) => {
    (await request.loadSession()).options({ userInfo: 'ada' })
    return 'ok'
  })
  app.get('/bad', async (request) => {
    const session = await request.loadSession()
    const value = (request.query as { v: string }).v
    session.options(value === 'no-object' ? 'x' as unknown as { maxAge: number } : { maxAge: value === 'string' ? '10' as unknown as number : Number(value) })
    return 'not reached'
  })
}

function maxAgeOf (attributes: string | undefined): number | null {
  const match = /Max-Age=(\d+)/i.exec(attributes ?? '')
  return match === null ? null : Number(match[1])
}

t.test('options({ maxAge }) with lifetime 0: a persistent cookie, the maxAge stored with the session, the store TTL set by it', async (t) => {
  const clock = fakeClock(t)
  const { store, memory, last } = watchedStore()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const browser = await app.inject({ method: 'POST', url: '/login' })
  t.equal(maxAgeOf(sessionCookie(browser)?.attributes), null, 'without options(): a browser-session cookie')
  const response = await app.inject({ method: 'POST', url: `/login?remember=${MONTH}` })
  const cookie = sessionCookie(response)
  t.equal(maxAgeOf(cookie?.attributes), MONTH, 'a cookie that outlives the browser')
  t.equal(last().maxAge, MONTH * 1000, 'SessionUpdate.maxAge is in ms')
  t.equal(last().ttl, MONTH, 'the store keeps it that long')
  const read = (await app.inject({ url: '/read', headers: { cookie: cookie?.header } })).json()
  t.equal(read.expiresAt, read.createdAt + MONTH * 1000)
  t.equal(memory.size, 2)
  clock.advance(MONTH - 10)
  t.equal((await app.inject({ url: '/read', headers: { cookie: cookie?.header } })).json().user, 'ada', 'alive until its own lifetime ends')
  clock.advance(10)
  t.not((await app.inject({ url: '/read', headers: { cookie: cookie?.header } })).json().reason, 'loaded', 'refused once it ends')
})

t.test('options({ maxAge }) is read back from the store: rolling renews each response by the session\'s own lifetime', async (t) => {
  const clock = fakeClock(t)
  const { store, last } = watchedStore()
  const app = await build({ store, lifetime: 3600, rolling: true }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: `/login?remember=${MONTH}` }))?.header as string
  clock.advance(DAY)
  const response = await app.inject({ url: '/read', headers: { cookie } })
  t.equal(maxAgeOf(sessionCookie(response)?.attributes), MONTH, 'rolling sends Max-Age = the session\'s maxAge, not the plugin lifetime')
  t.equal(last().maxAge, undefined, 'a save that did not change it leaves it unchanged')
  t.equal(last().ttl, MONTH)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().expiresAt, Date.now() + MONTH * 1000, 'stored: expires a month after the last response')
  const plain = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))?.header as string
  t.equal(maxAgeOf(sessionCookie(await app.inject({ url: '/read', headers: { cookie: plain } }))?.attributes), 3600, 'other sessions keep the plugin lifetime')
})

t.test('options({ maxAge }) on a loaded session saves it and sends the cookie, even with no data change (fixed mode)', async (t) => {
  const { store, last } = watchedStore()
  const app = await build({ store, lifetime: 3600 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))?.header as string
  const response = await app.inject({ method: 'POST', url: `/remember?maxAge=${DAY}`, headers: { cookie } })
  t.equal(last().maxAge, DAY * 1000)
  const read = (await app.inject({ url: '/read', headers: { cookie } })).json()
  t.equal(read.expiresAt, read.createdAt + DAY * 1000, 'fixed mode: counted from creation')
  t.ok((maxAgeOf(sessionCookie(response)?.attributes) ?? 0) > 3600, 'the cookie carries the new remaining time')
  const same = await app.inject({ method: 'POST', url: `/remember?maxAge=${DAY}`, headers: { cookie } })
  t.equal(sessionCookie(same), undefined, 'setting the same maxAge again changes nothing')
})

t.test('options({ maxAge }) on a loaded session in rolling mode with lifetime 0: counted from now, not from creation; maxAge 0 makes it a browser session', async (t) => {
  const clock = fakeClock(t)
  const { store, last } = watchedStore()
  const app = await build({ store, rolling: true }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))?.header as string
  clock.advance(3600)
  const response = await app.inject({ method: 'POST', url: `/remember?maxAge=${MONTH}`, headers: { cookie } })
  t.equal(last().maxAge, MONTH * 1000)
  t.equal(maxAgeOf(sessionCookie(response)?.attributes), MONTH, 'the whole month from now, although the session is an hour old')
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().expiresAt, Date.now() + MONTH * 1000)
  const session = await app.inject({ method: 'POST', url: '/remember?maxAge=0', headers: { cookie } })
  t.equal(last().maxAge, 0)
  t.ok(sessionCookie(session) !== undefined && maxAgeOf(sessionCookie(session)?.attributes) === null, 'maxAge 0 while rolling: a browser-session cookie')
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().expiresAt, null)
})

t.test('options({ maxAge: 0 }) makes a browser-session cookie; maxAge: null goes back to the plugin lifetime', async (t) => {
  const { store, last } = watchedStore()
  const app = await build({ store, lifetime: 3600 }, routes)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login?remember=0' })
  const cookie = sessionCookie(response)
  t.equal(maxAgeOf(cookie?.attributes), null, 'no Max-Age')
  t.equal(last().maxAge, 0)
  t.equal((await app.inject({ url: '/read', headers: { cookie: cookie?.header } })).json().expiresAt, null)
  const back = await app.inject({ method: 'POST', url: '/forget', headers: { cookie: cookie?.header } })
  t.equal(last().maxAge, null)
  t.ok((maxAgeOf(sessionCookie(back)?.attributes) ?? 0) > 3590, 'the plugin lifetime again')
  const nulled = await app.inject({ method: 'POST', url: '/login?remember=null' })
  t.equal(maxAgeOf(sessionCookie(nulled)?.attributes), 3600, 'null on a new session: the plugin lifetime')
})

t.test('options() without maxAge (what @fastify/csrf-protection passes) changes nothing', async (t) => {
  const { store, last } = watchedStore()
  const app = await build({ store, lifetime: 3600 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))?.header as string
  const before = last()
  const response = await app.inject({ url: '/csrf-like', headers: { cookie } })
  t.equal(response.statusCode, 200)
  t.equal(sessionCookie(response), undefined, 'no cookie')
  t.equal(last(), before, 'no store write')
})

t.test('options() with an invalid maxAge throws a TypeError', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  for (const v of ['-1', 'NaN', 'Infinity', 'string']) {
    const response = await app.inject(`/bad?v=${v}`)
    t.equal(response.statusCode, 500)
    t.match(response.json().message, /maxAge must be a number of seconds ≥ 0/, v)
  }
  t.match((await app.inject('/bad?v=no-object')).json().message, /options must be an object/)
})

t.test('options({ maxAge }) survives regenerate and is dropped with destroy', async (t) => {
  const { store, last } = watchedStore()
  const app = await build({ store }, (app) => {
    routes(app)
    app.post('/regenerate', async (request) => { await (await request.loadSession()).regenerate(); return 'ok' })
    app.post('/destroy-then-set', async (request) => {
      const session = await request.loadSession()
      await session.destroy()
      session.set('user', 'grace')
      return 'ok'
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: `/login?remember=${DAY}` }))?.header as string
  const regenerated = await app.inject({ method: 'POST', url: '/regenerate', headers: { cookie } })
  t.equal(maxAgeOf(sessionCookie(regenerated)?.attributes), DAY)
  t.equal(last().maxAge, DAY * 1000, 'the new ID is stored with it')
  const destroyed = await app.inject({ method: 'POST', url: '/destroy-then-set', headers: { cookie: sessionCookie(regenerated)?.header } })
  t.equal(maxAgeOf(sessionCookie(destroyed)?.attributes), null, 'the new session after destroy has the plugin lifetime')
  t.equal(last().maxAge, null)
})
