import t from 'tap'
import { MemoryStore, type SessionStore } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'
import { userRoutes } from './fixtures/user-sessions.ts'

// Revocation never fails open: a store failure in app.sessions or in the maxSessionsPerUser cap rejects with
// FST_SESSION_STORE_UNAVAILABLE (the store's error as the cause), whatever onStoreError says.

/** A real MemoryStore whose index methods can be made to fail. */
function breakable (): { store: SessionStore, down: Set<string> } {
  const memory = new MemoryStore()
  const down = new Set<string>()
  const fail = (method: string): void => { if (down.has(method)) throw new Error(`${method}: connection lost`) }
  return {
    down,
    store: {
      load: (key) => memory.load(key),
      save: (key, update) => memory.save(key, update),
      destroy: (key) => memory.destroy(key),
      list: async (user) => { fail('list'); return await memory.list(user) },
      revoke: async (user, handle) => { fail('revoke'); return await memory.revoke(user, handle) },
      revokeAll: async (user, except) => { fail('revokeAll'); return await memory.revokeAll(user, except) },
      close: () => { memory.close() }
    }
  }
}

t.test('app.sessions: a store failure rejects with FST_SESSION_STORE_UNAVAILABLE and the store error as cause', async (t) => {
  const { store, down } = breakable()
  const app = await build({ store, userKey: 'userId', onStoreError: 'fresh' }, userRoutes)
  t.teardown(() => app.close())
  down.add('list').add('revoke').add('revokeAll')
  for (const call of [() => app.sessions.list('ada'), () => app.sessions.revoke('ada', 'h'), () => app.sessions.revokeAll('ada', { except: 'h' })]) {
    const error = await call().then(() => null, (error: Error) => error)
    t.match(error, { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /^session store unavailable/ })
    t.match((error as Error).cause, { message: /connection lost/ })
  }
})

t.test('app.sessions: a user ID or handle that is not one is a TypeError', async (t) => {
  const app = await build({ userKey: 'userId' }, userRoutes)
  t.teardown(() => app.close())
  for (const user of [undefined, '', Number.NaN, Infinity, { id: 1 }]) {
    await t.rejects(app.sessions.list(user as string), TypeError, String(user))
  }
  await t.rejects(app.sessions.revoke('ada', '' as string), TypeError)
  await t.rejects(app.sessions.revoke('ada', 7 as unknown as string), TypeError)
  await t.rejects(app.sessions.revokeAll('ada', { except: null as unknown as string }), TypeError)
  t.equal(await app.sessions.revokeAll(12, {}), 0, 'a numeric ID and no except')
})

t.test('maxSessionsPerUser: a cap that could not be enforced fails the sign-in', async (t) => {
  for (const method of ['list', 'revoke']) {
    const { store, down } = breakable()
    const app = await build({ store, userKey: 'userId', maxSessionsPerUser: 1, onStoreError: 'fresh' }, userRoutes)
    t.teardown(() => app.close())
    const first = await app.inject({ method: 'POST', url: '/login?user=ada' })
    t.equal(first.statusCode, 200)
    down.add(method)
    const second = await app.inject({ method: 'POST', url: '/login?user=ada' })
    t.equal(second.statusCode, 503, `${method} failed: the sign-in answers 503`)
    t.equal(second.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
    t.equal(sessionCookie(second), undefined, 'and sends no cookie')
    down.clear()
    t.equal((await app.sessions.list('ada')).length, 1, 'the sign-in that broke the cap was removed')
    t.equal((await app.inject({ url: '/me', headers: { cookie: sessionCookie(first)?.header } })).json().user, 'ada', 'the first session is untouched')
  }
})
