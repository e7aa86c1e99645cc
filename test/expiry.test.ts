import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'
import { build, fakeClock, recordingStore, sessionCookie } from './fixtures/app.ts'

function routes (app: FastifyInstance): void {
  app.post('/set', async (request) => {
    const session = await request.loadSession()
    session.set('a', 1)
    return { createdAt: session.createdAt, expiresAt: session.expiresAt }
  })
  app.get('/read', async (request) => {
    const session = await request.loadSession()
    return { reason: session.reason, data: session.data(), lastAccessAt: session.lastAccessAt, expiresAt: session.expiresAt }
  })
  app.get('/touch', async (request) => {
    (await request.loadSession()).touch()
    return 'ok'
  })
}

const maxAge = (attributes: string | undefined): number => Number(/Max-Age=(\d+)/.exec(String(attributes))?.[1])

// Times move with a fake Date.now: the plugin and MemoryStore read it for every deadline, so these tests are exact.

t.test('fixed lifetime: Max-Age counts down from creation; the server refuses the session after it', async (t) => {
  const clock = fakeClock(t)
  const app = await build({ lifetime: 60 }, routes)
  t.teardown(() => app.close())
  const created = await app.inject({ method: 'POST', url: '/set' })
  const { createdAt, expiresAt } = created.json()
  t.equal(expiresAt - createdAt, 60_000)
  t.equal(maxAge(sessionCookie(created)?.attributes), 60)
  const cookie = sessionCookie(created)?.header as string
  clock.advance(20.5)
  const touched = await app.inject({ url: '/touch', headers: { cookie } })
  t.equal(maxAge(sessionCookie(touched)?.attributes), 40, 'touch in fixed mode sends the remaining time, rounded up')
  t.equal(touched.headers['set-cookie'] === undefined, false)
  clock.advance(39)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'loaded', 'still inside its lifetime')
  clock.advance(1)
  const late = (await app.inject({ url: '/read', headers: { cookie } })).json()
  t.ok(['expired', 'not-found'].includes(late.reason), 'a client that ignores Max-Age is refused by the server')
  t.same(late.data, {})
})

t.test('fixed lifetime: the plugin refuses a session past expiresAt even while the store still holds it', async (t) => {
  const clock = fakeClock(t)
  const app = await build({ lifetime: 1.5 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  clock.advance(1.6) // the store's TTL is whole seconds (2 s): the entry is still there
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'expired')
})

t.test('rolling: every response that loads the session sends Max-Age=lifetime and moves expiresAt', async (t) => {
  const clock = fakeClock(t)
  const app = await build({ lifetime: 60, rolling: true }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  let previous = 0
  for (let i = 0; i < 3; i++) {
    clock.advance(45)
    const response = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(response.json().reason, 'loaded', 'kept alive by use past its first lifetime')
    t.equal(maxAge(sessionCookie(response)?.attributes), 60)
    t.ok(response.json().expiresAt > previous, 'expiresAt moved forward')
    previous = response.json().expiresAt
  }
  clock.advance(61)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'not-found', 'idle past the lifetime: the store dropped it at its TTL')
})

t.test('lifetime 0: no Max-Age; rolling still refreshes the store TTL', async (t) => {
  const saves: SessionUpdate[] = []
  const memory = new MemoryStore()
  const store = { load: memory.load.bind(memory), destroy: memory.destroy.bind(memory), save: (id: string, update: SessionUpdate) => { saves.push(update); return memory.save(id, update) } }
  const app = await build({ store, rolling: true }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))
  t.notMatch(cookie?.attributes, /Max-Age/)
  const response = await app.inject({ url: '/read', headers: { cookie: cookie?.header } })
  t.notMatch(sessionCookie(response)?.attributes, /Max-Age/)
  t.same(saves.map((s) => [s.create, s.ttl, s.expiresAt, s.set.size]), [[true, null, null, 1], [false, null, null, 0]], 'a touch writes no data and leaves the TTL to the store\'s gcTtl')
})

t.test('idleTimeout: a session not loaded for that long is refused; loading it is activity', async (t) => {
  const clock = fakeClock(t)
  const app = await build({ idleTimeout: 60 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  const seen: number[] = []
  for (let i = 0; i < 4; i++) {
    clock.advance(40)
    const response = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(response.json().reason, 'loaded', 'each load keeps it alive')
    t.equal(response.headers['set-cookie'], undefined, 'the idle touch needs no cookie')
    seen.push(response.json().lastAccessAt)
  }
  // Each request sees the lastAccessAt that the previous request's touch stored.
  t.same(seen.slice(1).map((at, i) => at - (seen[i] as number)), [40_000, 40_000, 40_000], 'lastAccessAt moves forward')
  clock.advance(59)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'loaded')
  clock.advance(60)
  t.ok(['expired', 'not-found'].includes((await app.inject({ url: '/read', headers: { cookie } })).json().reason))
})

t.test('idleTimeout: the activity touch is throttled to once per idleTimeout / 10', async (t) => {
  const clock = fakeClock(t)
  const { store, calls } = recordingStore()
  const app = await build({ store, idleTimeout: 100 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  for (let i = 0; i < 9; i++) {
    clock.advance(1)
    await app.inject({ url: '/read', headers: { cookie } })
  }
  t.same(calls.filter((call) => call !== 'load'), ['create'], 'no touch within 10 s')
  clock.advance(1)
  await app.inject({ url: '/read', headers: { cookie } })
  t.same(calls.filter((call) => call !== 'load'), ['create', 'save'], 'a touch once 10 s passed')
})

t.test('absoluteTimeout: refused after that long since creation, even while rolling and in use', async (t) => {
  const clock = fakeClock(t)
  const app = await build({ absoluteTimeout: 100, rolling: true, lifetime: 60 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  clock.advance(50)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'loaded')
  clock.advance(49.5)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'loaded')
  clock.advance(0.6)
  const response = await app.inject({ url: '/read', headers: { cookie } })
  t.equal(response.json().reason, 'expired', 'the store TTL was rounded up past the deadline: the plugin refuses it')
  t.same(response.json().data, {})
  t.equal(sessionCookie(response)?.value, '', 'the refused cookie is deleted')
})

t.test('an expired session is removed from the store', async (t) => {
  const clock = fakeClock(t)
  const memory = new MemoryStore()
  const app = await build({ store: memory, idleTimeout: 10.5 }, routes)
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/set' })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  t.equal(memory.size, 2)
  clock.advance(10.6)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'expired')
  t.equal(memory.size, 1, 'the expired session is gone; the other is not swept yet')
})

t.test('touch() re-sends the cookie and refreshes the TTL when not rolling', async (t) => {
  const app = await build({ lifetime: 3600 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))
  const touched = await app.inject({ url: '/touch', headers: { cookie: cookie?.header } })
  t.equal(sessionCookie(touched)?.value, cookie?.value)
  t.ok(maxAge(sessionCookie(touched)?.attributes) > 3590)
})

t.test('touch() refreshes the store TTL: a browser-session cookie outlives gcTtl while it is touched', async (t) => {
  const clock = fakeClock(t)
  // lifetime 0 and no idleTimeout: nothing but the store's gcTtl bounds the session, so only the touch can extend it.
  const store = new MemoryStore({ gcTtl: 60 })
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  clock.advance(50)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'loaded', 'a read alone writes nothing')
  clock.advance(5)
  await app.inject({ url: '/touch', headers: { cookie } })
  clock.advance(55)
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json().data, { a: 1 }, '110 s after creation, 55 s after the touch')
  clock.advance(60)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'not-found', 'and gone gcTtl after the touch')
})
