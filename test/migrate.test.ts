// Switching from @fastify/session: sessions written by the real @fastify/session (its MemoryStore) move into ours.
import fastifyCookie from '@fastify/cookie'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import plugin, { CookieStore, MemoryStore } from '../lib/index.ts'
import { CONFORMANCE_SECRET } from '../lib/conformance.ts'
import type { FastifyLazySessionOptions } from '../lib/options.ts'
import type { SessionStore } from '../lib/types.ts'
import { OLD_SECRET, oldApp, oldMemoryStore, setCookies, signInOld, type OldStore } from './fixtures/migrate.ts'

/** The app after the switch: this plugin, reading the old sessions through `migrateFrom`. */
async function newApp (oldStore: OldStore, options: Partial<FastifyLazySessionOptions> = {}, cookies = false): Promise<FastifyInstance> {
  const app = Fastify()
  if (cookies) await app.register(fastifyCookie)
  await app.register(plugin, { secret: CONFORMANCE_SECRET, migrateFrom: { cookieName: 'sessionId', secret: OLD_SECRET, store: oldStore }, ...options })
  app.get('/none', async () => 'none')
  app.get('/me', async (request) => {
    const session = await request.loadSession()
    return { user: session.get('user') ?? null, data: session.data(), reason: session.reason, isNew: session.isNew }
  })
  app.post('/logout', async (request) => { await (await request.loadSession()).destroy(); return 'ok' })
  t.teardown(() => app.close())
  return app
}

/** Our store, counting the sessions created in it. */
function counted (store: SessionStore = new MemoryStore()): { store: SessionStore, created: () => number } {
  let created = 0
  return {
    created: () => created,
    store: {
      load: (id) => store.load(id),
      save: (id, update) => { if (update.create) created++; return store.save(id, update) },
      destroy: (id) => store.destroy(id)
    }
  }
}

for (const cookies of [false, true]) {
  t.test(`the user stays signed in, moved once into a new session of ours${cookies ? ' (with @fastify/cookie registered)' : ''}`, async (t) => {
    const oldStore = oldMemoryStore()
    const before = await oldApp(oldStore)
    const oldCookie = await signInOld(before, { user: 'ada', cart: { items: [1, 2] }, n: 3 })
    t.same((await before.inject({ url: '/me', headers: { cookie: oldCookie } })).json(), { user: 'ada' })
    await before.close()
    t.equal(oldStore.store.size, 1)

    const ours = counted()
    const app = await newApp(oldStore, { store: ours.store }, cookies)
    const anonymous = await app.inject({ url: '/me' })
    t.same(anonymous.json().user, null, 'no cookie at all: nothing to migrate')
    t.equal(anonymous.headers['set-cookie'], undefined)
    // Lazy: a route that does not load the session touches neither store.
    const none = await app.inject({ url: '/none', headers: { cookie: oldCookie } })
    t.equal(none.headers['set-cookie'], undefined)
    t.equal(oldStore.store.size, 1)

    const response = await app.inject({ url: '/me', headers: { cookie: oldCookie } })
    t.same(response.json(), { user: 'ada', data: { user: 'ada', cart: { items: [1, 2] }, n: 3 }, reason: 'loaded', isNew: false })
    const set = setCookies(response)
    const ourCookie = set.get('__Host-session')
    t.ok(ourCookie !== undefined && ourCookie.value !== '', 'our cookie is set')
    t.match(set.get('sessionId'), { value: '', line: /Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT/ }, 'the old cookie is cleared')
    t.equal(oldStore.store.size, 0, 'the old session is destroyed in the old store')
    t.equal(ours.created(), 1)

    // Afterwards: ours works, the old one alone no longer signs anybody in.
    const again = await app.inject({ url: '/me', headers: { cookie: `__Host-session=${ourCookie?.value as string}` } })
    t.same(again.json().user, 'ada')
    t.equal(again.headers['set-cookie'], undefined, 'an ordinary request of ours')
    const replay = await app.inject({ url: '/me', headers: { cookie: oldCookie } })
    t.same(replay.json(), { user: null, data: {}, reason: 'new', isNew: true })
    t.equal(setCookies(replay).get('sessionId')?.value, '', 'a dead old cookie is cleared too')
    t.equal(ours.created(), 1)
  })
}

t.test('two concurrent requests with the old cookie create one session of ours, and both are signed in', async (t) => {
  const oldStore = oldMemoryStore()
  const before = await oldApp(oldStore)
  const oldCookie = await signInOld(before, { user: 'grace' })
  await before.close()
  const ours = counted()
  const app = await newApp(oldStore, { store: ours.store })
  const responses = await Promise.all([1, 2, 3].map(() => app.inject({ url: '/me', headers: { cookie: oldCookie } })))
  t.same(responses.map((r) => r.json().user), ['grace', 'grace', 'grace'])
  const values = new Set(responses.map((r) => setCookies(r).get('__Host-session')?.value))
  t.equal(values.size, 1, 'every response carries the same new cookie')
  t.equal(ours.created(), 1, 'exactly one session created')
  t.equal(oldStore.store.size, 0)
})

t.test('a request that carries our cookie too is not migrated: the old session stays as it is', async (t) => {
  const oldStore = oldMemoryStore()
  const before = await oldApp(oldStore)
  const oldCookie = await signInOld(before, { user: 'ada' })
  const otherCookie = await signInOld(before, { user: 'bob' })
  await before.close()
  const app = await newApp(oldStore)
  const first = await app.inject({ url: '/me', headers: { cookie: otherCookie } })
  const ourCookie = `__Host-session=${setCookies(first).get('__Host-session')?.value as string}`
  const response = await app.inject({ url: '/me', headers: { cookie: `${ourCookie}; ${oldCookie}` } })
  t.equal(response.json().user, 'bob')
  t.equal(response.headers['set-cookie'], undefined)
  t.equal(oldStore.store.size, 1, 'ada\'s old session is untouched')
})

t.test('an old cookie with a bad signature, or signed with another secret, is left alone', async (t) => {
  const oldStore = oldMemoryStore()
  const before = await oldApp(oldStore)
  const oldCookie = await signInOld(before, { user: 'ada' })
  await before.close()
  const app = await newApp(oldStore, { migrateFrom: { cookieName: 'sessionId', secret: 'another-secret-entirely-32-characters', store: oldStore } })
  for (const cookie of [oldCookie, oldCookie.slice(0, -2), 'sessionId=nodot', 'sessionId=.sig', 'sessionId=value.', 'sessionId=']) {
    const response = await app.inject({ url: '/me', headers: { cookie } })
    t.same(response.json().user, null, cookie)
    t.equal(response.headers['set-cookie'], undefined, cookie)
  }
  t.equal(oldStore.store.size, 1)
})

t.test('secret rotation: every secret of the list verifies the old cookie', async (t) => {
  const oldStore = oldMemoryStore()
  const before = await oldApp(oldStore)
  const oldCookie = await signInOld(before, { user: 'ada' })
  await before.close()
  const app = await newApp(oldStore, { migrateFrom: { cookieName: 'sessionId', secret: ['a-newer-secret-for-the-old-app-32-chars', OLD_SECRET], store: oldStore } })
  t.equal((await app.inject({ url: '/me', headers: { cookie: oldCookie } })).json().user, 'ada')
})

t.test('an old session that expired, or holds no data, is removed and not carried over', async (t) => {
  const oldStore = oldMemoryStore()
  const before = await oldApp(oldStore, { cookie: { secure: false, maxAge: 60_000 } })
  const expired = await signInOld(before, { user: 'ada' })
  const empty = await signInOld(before, {})
  await before.close()
  t.equal(oldStore.store.size, 2)
  const [first] = [...oldStore.store.values()] as [{ cookie: { expires: Date } }]
  first.cookie.expires = new Date(Date.now() - 1000)
  const app = await newApp(oldStore)
  for (const cookie of [expired, empty]) {
    const response = await app.inject({ url: '/me', headers: { cookie } })
    t.same(response.json().user, null)
    t.equal(setCookies(response).get('__Host-session'), undefined, 'no session of ours')
    t.equal(setCookies(response).get('sessionId')?.value, '', 'the old cookie is cleared')
  }
  t.equal(oldStore.store.size, 0)
})

t.test('into a CookieStore: the moved session is sealed into our cookie', async (t) => {
  const oldStore = oldMemoryStore()
  const before = await oldApp(oldStore)
  const oldCookie = await signInOld(before, { user: 'ada' })
  await before.close()
  const app = await newApp(oldStore, { store: new CookieStore() })
  const response = await app.inject({ url: '/me', headers: { cookie: oldCookie } })
  t.equal(response.json().user, 'ada')
  const ours = setCookies(response).get('__Host-session')?.value as string
  t.equal((await app.inject({ url: '/me', headers: { cookie: `__Host-session=${ours}` } })).json().user, 'ada')
  t.equal(oldStore.store.size, 0)
})

t.test('the deletion cookie matches the old cookie: its path and domain, Secure for a __Host- name', async (t) => {
  for (const [cookieName, cookie, expected] of [
    ['__Host-sid', undefined, /^__Host-sid=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure$/],
    ['sid', { path: '/app', domain: 'example.com' }, /^sid=; Domain=example.com; Path=\/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT$/]
  ] as const) {
    const oldStore = oldMemoryStore()
    const before = await oldApp(oldStore, { cookieName })
    const oldCookie = await signInOld(before, { user: 'ada' }, cookieName)
    await before.close()
    const app = await newApp(oldStore, { migrateFrom: { cookieName, secret: OLD_SECRET, store: oldStore, cookie } })
    const response = await app.inject({ url: '/me', headers: { cookie: oldCookie } })
    t.equal(response.json().user, 'ada')
    t.match(setCookies(response).get(cookieName)?.line, expected)
  }
})
