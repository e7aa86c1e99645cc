import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'
import { build, sessionCookie, sleep } from './fixtures/app.ts'

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

const maxAge = (attributes: string | undefined): number => Number(/Max-Age=(\d+)/.exec(attributes ?? '')?.[1])

t.test('fixed lifetime: Max-Age counts down from creation; the server refuses the session after it', async (t) => {
  const app = await build({ lifetime: 1.2 }, routes)
  t.teardown(() => app.close())
  const created = await app.inject({ method: 'POST', url: '/set' })
  const { createdAt, expiresAt } = created.json()
  t.equal(expiresAt - createdAt, 1200)
  t.equal(maxAge(sessionCookie(created)?.attributes), 2, 'Max-Age is rounded up to whole seconds')
  const cookie = sessionCookie(created)?.header as string
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'loaded')
  await sleep(700)
  const touched = await app.inject({ url: '/touch', headers: { cookie } })
  t.equal(maxAge(sessionCookie(touched)?.attributes), 1, 'touch in fixed mode sends the remaining time')
  await sleep(600)
  const late = (await app.inject({ url: '/read', headers: { cookie } })).json()
  t.equal(late.reason, 'expired', 'a client that ignores Max-Age is refused by the server')
  t.same(late.data, {})
})

t.test('rolling: every response that loads the session sends Max-Age=lifetime and moves expiresAt', async (t) => {
  const app = await build({ lifetime: 1, rolling: true }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  for (let i = 0; i < 3; i++) {
    await sleep(500)
    const response = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(response.json().reason, 'loaded', 'kept alive by use past its first lifetime')
    t.equal(maxAge(sessionCookie(response)?.attributes), 1)
  }
  await sleep(1100)
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
  const app = await build({ idleTimeout: 0.6 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  const seen: number[] = []
  for (let i = 0; i < 4; i++) {
    await sleep(350)
    const response = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(response.json().reason, 'loaded', 'each load keeps it alive')
    t.equal(response.headers['set-cookie'], undefined, 'the idle touch needs no cookie')
    seen.push(response.json().lastAccessAt)
  }
  // Each request sees the lastAccessAt that the previous request's touch stored.
  t.ok(seen[1]! > seen[0]! && seen[2]! > seen[1]! && seen[3]! > seen[2]!, 'lastAccessAt moves forward')
  await sleep(700)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'expired')
})

t.test('idleTimeout: the activity touch is throttled to once per idleTimeout / 10', async (t) => {
  const saves: string[] = []
  const memory = new MemoryStore()
  const store = { load: memory.load.bind(memory), destroy: memory.destroy.bind(memory), save: (id: string, update: SessionUpdate) => { saves.push(id); return memory.save(id, update) } }
  const app = await build({ store, idleTimeout: 3600 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  for (let i = 0; i < 5; i++) await app.inject({ url: '/read', headers: { cookie } })
  t.equal(saves.length, 1, 'only the creation wrote')
})

t.test('absoluteTimeout: refused after that long since creation, even while rolling and in use', async (t) => {
  const app = await build({ absoluteTimeout: 1, rolling: true, lifetime: 60 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  await sleep(500)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'loaded')
  await sleep(600)
  const response = await app.inject({ url: '/read', headers: { cookie } })
  t.equal(response.json().reason, 'expired')
  t.equal(sessionCookie(response)?.value, '', 'the refused cookie is deleted')
})

t.test('an expired session is removed from the store', async (t) => {
  const memory = new MemoryStore()
  const app = await build({ store: memory, idleTimeout: 0.3 }, routes)
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/set' })
  t.equal(memory.size, 1)
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  await sleep(400)
  await app.inject({ url: '/read', headers: { cookie } })
  t.equal(memory.size, 1, 'the expired session is gone; the other is not (yet) swept')
})

t.test('touch() re-sends the cookie and refreshes the TTL when not rolling', async (t) => {
  const app = await build({ lifetime: 3600 }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))
  const touched = await app.inject({ url: '/touch', headers: { cookie: cookie?.header } })
  t.equal(sessionCookie(touched)?.value, cookie?.value)
  t.ok(maxAge(sessionCookie(touched)?.attributes) > 3590)
})
