import t from 'tap'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'

// Issue 13, finding 4: a flood of new anonymous sessions must not push out sessions in use (segmented LRU).

function update (fields: Partial<SessionUpdate> = {}): SessionUpdate {
  const now = Date.now()
  return { create: true, replace: true, set: new Map([['k', '"v"']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 3600, ...fields }
}

t.test('a flood of anonymous sessions does not log anyone out (finding 4): 3,000 new sessions, maxSessions 300, 30 in use', async (t) => {
  const store = new MemoryStore({ maxSessions: 300 })
  t.teardown(() => { store.close() })
  const app = await build({ store, cookie: { name: 'session' } }, (app) => {
    app.post('/login', async (request) => {
      const session = await request.loadSession()
      session.set('userId', (request.body as { user: string }).user)
      return 'ok'
    })
    app.get('/me', async (request) => ({ userId: (await request.loadSession()).get('userId') ?? null }))
    // what a shop does for every visitor: a CSRF token or a cart in a new session
    app.get('/visit', async (request) => {
      (await request.loadSession()).set('csrf', 'token')
      return 'ok'
    })
  })
  t.teardown(() => app.close())
  const users: string[] = []
  for (let i = 0; i < 30; i++) {
    const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login', payload: { user: `user-${i}` } }), 'session')?.header as string
    t.equal((await app.inject({ url: '/me', headers: { cookie } })).json().userId, `user-${i}`)
    users.push(cookie)
  }
  for (let i = 0; i < 3000; i++) {
    const response = await app.inject('/visit')
    if (sessionCookie(response)?.value === '') t.fail('a visit got no session')
  }
  t.equal(store.size, 300, 'the store is full')
  let kept = 0
  for (const [i, cookie] of users.entries()) {
    if ((await app.inject({ url: '/me', headers: { cookie } })).json().userId === `user-${i}`) kept++
  }
  t.equal(kept, 30, 'every signed-in user is still signed in')
})

t.test('a session moves to protected on its first load after creation; never-loaded ones are evicted first', async (t) => {
  const store = new MemoryStore({ maxSessions: 5 })
  t.teardown(() => { store.close() })
  for (const id of ['a', 'b', 'c', 'd', 'e']) await store.save(id, update())
  await store.load('a')
  for (const id of ['f', 'g', 'h']) await store.save(id, update())
  t.ok(await store.load('a'), 'a was loaded: kept')
  for (const id of ['b', 'c', 'd']) t.equal(await store.load(id), null, `${id} was never loaded: evicted first`)
  for (const id of ['e', 'f', 'g', 'h']) t.ok(await store.load(id), `${id} is the newest: kept`)
})

t.test('the protected segment holds at most 80 % of maxSessions: its least recently used session goes back to probation', async (t) => {
  const store = new MemoryStore({ maxSessions: 5 })
  t.teardown(() => { store.close() })
  // five sessions loaded once each: only four fit in protected, the first loaded is demoted
  for (const id of ['a', 'b', 'c', 'd', 'e']) await store.save(id, update())
  for (const id of ['a', 'b', 'c', 'd', 'e']) await store.load(id)
  await store.save('new', update())
  t.equal(await store.load('a'), null, 'the demoted session was the oldest of probation')
  t.ok(await store.load('new'), 'a new session always has room in probation')
  for (const id of ['b', 'c', 'd', 'e']) t.ok(await store.load(id))
})

t.test('maxSessions: 1 keeps the newest session', async (t) => {
  const store = new MemoryStore({ maxSessions: 1 })
  t.teardown(() => { store.close() })
  await store.save('a', update())
  t.ok(await store.load('a'))
  await store.save('b', update())
  t.equal(store.size, 1)
  t.equal(await store.load('a'), null)
  t.ok(await store.load('b'))
})
