import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, RedisStore, type SessionStore } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'
import { connect, ownServer, startRedis } from './fixtures/redis.ts'

// Security review finding 2: under `onStoreError: 'fresh'` a logout during a store outage resolved, the route said
// "logged out", no cookie was cleared, and once the store was back the same cookie was signed in again. Now
// destroy(), regenerate() and emptying a session reject with FST_SESSION_STORE_UNAVAILABLE whatever onStoreError
// says, and the response still deletes the cookie.

/** A real MemoryStore whose methods can be made to fail, as a store does when its server is down. */
function breakable (): { store: SessionStore, memory: MemoryStore, down: Set<string> } {
  const memory = new MemoryStore()
  const down = new Set<string>()
  const fail = (method: string): void => { if (down.has(method)) throw new Error(`${method} failed: connection lost`) }
  return {
    memory,
    down,
    store: {
      load: async (id) => { fail('load'); return await memory.load(id) },
      save: async (id, update) => { fail('save'); return await memory.save(id, update) },
      destroy: async (id) => { fail('destroy'); return await memory.destroy(id) }
    }
  }
}

function routes (app: FastifyInstance): void {
  app.post('/login', async (request) => {
    const session = await request.loadSession()
    session.set('user', 'ada')
    return 'ok'
  })
  app.get('/whoami', async (request) => {
    const session = await request.loadSession()
    return { reason: session.reason, user: session.get('user') ?? null }
  })
  app.post('/logout', async (request) => {
    await (await request.loadSession()).destroy()
    return 'logged out'
  })
  app.post('/logout-clear', async (request) => {
    (await request.loadSession()).clear()
    return 'logged out'
  })
  // A route that catches the failure and goes on: the old ID must not be signed in as someone else.
  app.post('/regenerate-caught', async (request) => {
    const session = await request.loadSession()
    const outcome = await session.regenerate().then(() => 'regenerated', (error: { code: string }) => error.code)
    session.set('user', 'mallory')
    return { outcome }
  })
}

async function signedIn (app: FastifyInstance): Promise<string> {
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))
  if (cookie === undefined || cookie.value === '') throw new Error('no session cookie')
  return cookie.header
}

for (const onStoreError of ['fail', 'fresh'] as const) {
  t.test(`regression: logout fails closed (onStoreError '${onStoreError}'): a destroy the store did not carry out rejects, and the cookie is deleted`, async (t) => {
    const { store, down } = breakable()
    const app = await build({ store, onStoreError }, routes)
    t.teardown(() => app.close())
    const cookie = await signedIn(app)
    down.add('destroy')
    for (const url of ['/logout', '/logout-clear']) {
      const response = await app.inject({ method: 'POST', url, headers: { cookie } })
      t.equal(response.statusCode, 503, `${url}: the route does not say "logged out"`)
      t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
      t.equal(sessionCookie(response)?.value, '', `${url}: the deletion cookie is still sent`)
      t.match(sessionCookie(response)?.attributes, /Expires=Thu, 01 Jan 1970/)
    }
  })

  t.test(`regression: logout fails closed (onStoreError '${onStoreError}'): a failed regenerate rejects and nothing more is stored under the old ID`, async (t) => {
    const { store, down } = breakable()
    const app = await build({ store, onStoreError }, routes)
    t.teardown(() => app.close())
    const cookie = await signedIn(app)
    down.add('destroy')
    const response = await app.inject({ method: 'POST', url: '/regenerate-caught', headers: { cookie } })
    t.same(response.json(), { outcome: 'FST_SESSION_STORE_UNAVAILABLE' })
    t.equal(response.headers['set-cookie'], undefined)
    down.clear()
    t.same((await app.inject({ url: '/whoami', headers: { cookie } })).json(), { reason: 'loaded', user: 'ada' }, 'the change after the failed regenerate was not saved under the old ID')
  })
}

t.test("regression: logout fails closed: a load that failed under 'fresh' makes destroy() and regenerate() reject", async (t) => {
  const { store, down } = breakable()
  const app = await build({ store, onStoreError: 'fresh' }, routes)
  t.teardown(() => app.close())
  const cookie = await signedIn(app)
  down.add('load')
  const response = await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
  t.equal(response.statusCode, 503, 'the session the cookie names could not be removed')
  t.equal(sessionCookie(response)?.value, '', 'the deletion cookie is sent')
  const regenerated = await app.inject({ method: 'POST', url: '/regenerate-caught', headers: { cookie } })
  t.same(regenerated.json(), { outcome: 'FST_SESSION_STORE_UNAVAILABLE' })
  t.equal(regenerated.headers['set-cookie'], undefined, 'no new session is created while the old one could not be removed')
  down.clear()
  t.same((await app.inject({ url: '/whoami', headers: { cookie } })).json(), { reason: 'loaded', user: 'ada' })
})

t.test('a skipped request (skipHeader) has no session to log out of: destroy() resolves and sends nothing', async (t) => {
  const app = await build({ skipHeader: { name: 'x-health', value: '*' } }, routes)
  t.teardown(() => app.close())
  const cookie = await signedIn(app)
  const response = await app.inject({ method: 'POST', url: '/logout', headers: { cookie, 'x-health': '1' } })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['set-cookie'], undefined)
  const regenerated = await app.inject({ method: 'POST', url: '/regenerate-caught', headers: { cookie, 'x-health': '1' } })
  t.same(regenerated.json(), { outcome: 'regenerated' })
})

async function redisApp (t: Test, onStoreError: 'fail' | 'fresh'): Promise<{ app: FastifyInstance, pause: () => void, resume: () => void }> {
  const server = await startRedis(t)
  const client = connect(t, server, { maxRetriesPerRequest: null })
  const store = new RedisStore({ client, timeout: 300 })
  const app = await build({ store, onStoreError }, routes)
  t.teardown(() => app.close())
  return { app, pause: server.pause, resume: server.resume }
}

for (const onStoreError of ['fail', 'fresh'] as const) {
  t.test(`RedisStore paused during logout (onStoreError '${onStoreError}'): 503 (with a deletion cookie under 'fresh', where the load failure left a session to forget), and the logout goes through once Redis answers`, ownServer, async (t) => {
    const { app, pause, resume } = await redisApp(t, onStoreError)
    const cookie = await signedIn(app)
    pause()
    t.teardown(resume)
    // Loaded before the pause would be the usual order; a paused Redis fails the load (fail) or the destroy (fresh).
    const response = await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
    if (onStoreError === 'fresh') t.equal(sessionCookie(response)?.value, '', 'the browser is told to forget the cookie')
    resume()
    t.same((await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })).statusCode, 200, 'once Redis answers, the logout goes through')
    t.same((await app.inject({ url: '/whoami', headers: { cookie } })).json(), { reason: 'not-found', user: null })
  })
}

t.test('RedisStore stopped between load and destroy: destroy() rejects and the response deletes the cookie', ownServer, async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server, { maxRetriesPerRequest: 0 })
  const store = new RedisStore({ client, timeout: 300 })
  const app = await build({ store, onStoreError: 'fresh' }, (app) => {
    routes(app)
    app.post('/logout-after-outage', async (request) => {
      const session = await request.loadSession()
      await server.kill()
      await session.destroy()
      return 'logged out'
    })
  })
  t.teardown(() => app.close())
  const cookie = await signedIn(app)
  const response = await app.inject({ method: 'POST', url: '/logout-after-outage', headers: { cookie } })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.equal(sessionCookie(response)?.value, '', 'the deletion cookie is sent')
})
