import t, { type Test } from 'tap'
import { CookieStore, type FastifyLazySessionOptions } from '../lib/index.ts'
import { build, gate, sessionCookie } from './fixtures/app.ts'
import { connect, ownServer, startRedis, uniquePrefix } from './fixtures/redis.ts'
import { userApp, userRoutes } from './fixtures/user-sessions.ts'

// A CookieStore keeps no index (its sessions live in the browsers): `revokeAll` records a per-user cut-off time that
// every load checks, `list` and `revoke` of one handle are FST_SESSION_UNSUPPORTED.

t.test('CookieStore: revokeAll(user, { except }) signs out every other cookie of the user (reason "revoked"), and only those', async (t) => {
  const { app, login, me, tick } = await userApp(t, { store: new CookieStore() })
  const ada = [await login('ada'), await login('ada'), await login('ada')]
  const bob = await login('bob')
  tick()
  const response = await app.inject({ method: 'POST', url: '/revoke-others', headers: { cookie: ada[1]?.cookie } })
  t.same(response.json(), { revoked: 0 }, 'a CookieStore cannot count the cookies it revokes')
  tick()
  t.same((await me(ada[1]?.cookie as string)).body.user, 'ada', 'the session that asked stays signed in')
  for (const other of [ada[0], ada[2]]) {
    const { body, response } = await me(other?.cookie as string)
    t.same(body, { reason: 'revoked', user: null, handle: null }, 'refused with reason "revoked"')
    t.equal(sessionCookie(response)?.value, '', 'and a deletion cookie')
  }
  t.equal((await me(bob.cookie)).body.user, 'bob', 'another user is untouched')
  const later = await login('ada')
  t.equal((await me(later.cookie)).body.user, 'ada', 'a sign-in after the cut-off is not revoked')
})

t.test('CookieStore: list and revoke of one handle are FST_SESSION_UNSUPPORTED; maxSessionsPerUser is refused at register', async (t) => {
  const { app } = await userApp(t, { store: new CookieStore() })
  await t.rejects(app.sessions.list('ada'), { code: 'FST_SESSION_UNSUPPORTED', message: /CookieStore/ })
  await t.rejects(app.sessions.revoke('ada', 'handle'), { code: 'FST_SESSION_UNSUPPORTED', message: /CookieStore/ })
  await t.rejects(async () => { await build({ store: new CookieStore(), userKey: 'userId', maxSessionsPerUser: 2 }) }, { code: 'FST_SESSION_INVALID_OPTION', message: /maxSessionsPerUser/ })
})

t.test('CookieStore: a request in flight when revokeAll runs does not re-seal the revoked cookie past the cut-off', async (t) => {
  const held = gate()
  const loaded = gate()
  const { app, login, me, tick } = await userApp(t, { store: new CookieStore() }, (app) => {
    app.post('/held', async (request) => {
      const session = await request.loadSession()
      loaded.open()
      await held.promise
      session.set('visits', 1)
      return 'ok'
    })
  })
  const victim = await login('ada')
  const keeper = await login('ada')
  tick()
  const inFlight = app.inject({ method: 'POST', url: '/held', headers: { cookie: victim.cookie } })
  await loaded.promise
  tick()
  await app.sessions.revokeAll('ada', { except: keeper.handle })
  tick()
  held.open()
  const response = await inFlight
  t.equal(response.statusCode, 200)
  t.equal(response.headers['set-cookie'], undefined, 'no fresh cookie for a revoked session')
  t.equal((await me(victim.cookie)).body.reason, 'revoked')
  t.equal((await me(keeper.cookie)).body.user, 'ada')
})

async function redisRevocations (t: Test): Promise<{ options: () => Partial<FastifyLazySessionOptions>, pause: () => void, resume: () => void }> {
  const server = await startRedis(t)
  const client = connect(t, server, { maxRetriesPerRequest: null })
  const prefix = uniquePrefix()
  return {
    options: () => ({ store: new CookieStore({ revocations: { client, prefix, timeout: 300 } }) }),
    pause: server.pause,
    resume: server.resume
  }
}

t.test('CookieStore with revocations in Redis: a revokeAll in one process signs the user out in another', async (t) => {
  const redis = await redisRevocations(t)
  const one = await userApp(t, redis.options())
  const two = await build({ userKey: 'userId', lifetime: 3600, ...redis.options() }, userRoutes)
  t.teardown(() => two.close())
  const ada = await one.login('ada')
  const keeper = await one.login('ada')
  one.tick()
  t.equal((await two.inject({ url: '/me', headers: { cookie: ada.cookie } })).json().user, 'ada', 'the other process opens the cookie')
  await two.sessions.revokeAll('ada', { except: keeper.handle })
  one.tick()
  t.equal((await one.me(ada.cookie)).body.reason, 'revoked', 'the first process refuses it')
  t.equal((await one.me(keeper.cookie)).body.user, 'ada')
})

t.test('CookieStore with revocations in Redis, Redis paused: revokeAll rejects, and signed-in cookies are not let in unchecked', ownServer, async (t) => {
  const redis = await redisRevocations(t)
  const { app, login, me } = await userApp(t, redis.options())
  const ada = await login('ada')
  redis.pause()
  t.teardown(redis.resume)
  await t.rejects(app.sessions.revokeAll('ada'), { code: 'FST_SESSION_STORE_UNAVAILABLE' }, 'a revocation that did not happen rejects')
  const { response } = await me(ada.cookie)
  t.equal(response.statusCode, 503, 'a signed-in cookie cannot be checked: the request fails (onStoreError fail)')
  t.notMatch(response.body, /Redis|timeout/i)
  redis.resume()
  // The cut-off was already on its way to Redis and ran once it answered: late, never lost — the caller was told
  // it had not happened in time, and an app that retries does no harm.
  t.equal((await me(ada.cookie)).body.reason, 'revoked')
})

for (const onStoreError of ['fail', 'fresh'] as const) {
  t.test(`CookieStore with revocations in Redis (onStoreError '${onStoreError}'): Redis fails between load and re-seal — no unchecked cookie`, ownServer, async (t) => {
    const server = await startRedis(t)
    const client = connect(t, server, { maxRetriesPerRequest: null })
    const store = new CookieStore({ revocations: { client, prefix: uniquePrefix(), timeout: 300 } })
    const { app, login } = await userApp(t, { store, onStoreError }, (app) => {
      app.post('/write-after-outage', async (request) => {
        const session = await request.loadSession()
        server.pause()
        session.set('visits', 1)
        return 'ok'
      })
    })
    t.teardown(server.resume)
    const ada = await login('ada')
    const response = await app.inject({ method: 'POST', url: '/write-after-outage', headers: { cookie: ada.cookie } })
    t.equal(response.statusCode, onStoreError === 'fail' ? 503 : 200)
    t.equal(response.headers['set-cookie'], undefined, 'the cookie is not re-sealed without the revocation check')
  })
}

t.test('CookieStore: a signed-in session changed later is sealed again, still signed in and still revocable', async (t) => {
  const { app, login, me, tick } = await userApp(t, { store: new CookieStore() })
  const ada = await login('ada')
  tick()
  const visit = await app.inject({ method: 'POST', url: '/visit', headers: { cookie: ada.cookie } })
  const resealed = sessionCookie(visit)
  t.ok(resealed !== undefined && resealed.value !== '' && resealed.header !== ada.cookie, 'the change is sealed into a new cookie')
  t.same((await me(resealed?.header as string)).body, { reason: 'loaded', user: 'ada', handle: ada.handle }, 'the same session, signed in')
  tick()
  await app.sessions.revokeAll('ada')
  tick()
  t.equal((await me(resealed?.header as string)).body.reason, 'revoked', 'a cut-off after the re-seal revokes it')
})
