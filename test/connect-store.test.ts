import session from 'express-session'
import Fastify from 'fastify'
import t from 'tap'
import plugin from '../lib/index.ts'
import { CONFORMANCE_SECRET, sessionCookie } from '../lib/conformance.ts'
import { connectStore, META_FIELD, type ConnectSession } from '../lib/stores/connectStore.ts'
import { update } from './fixtures/redis.ts'

/** The session express-session's MemoryStore holds under `key`, parsed (it keeps JSON strings). */
function stored (store: session.MemoryStore, key: string): ConnectSession | undefined {
  const sessions = (store as unknown as { sessions: Record<string, string> }).sessions
  const raw = sessions[key]
  return raw === undefined ? undefined : JSON.parse(raw)
}

t.test('callback style (express-session MemoryStore): data as serialized strings beside the cookie, metadata in its own field', async (t) => {
  const memory = new session.MemoryStore()
  const store = connectStore(memory, { gcTtl: 600 })
  const now = Date.now()
  t.equal(await store.save('k1', update({ create: true, replace: true, set: new Map([['user', '"ada"'], ['n', '1']]), createdAt: now, lastAccessAt: now, expiresAt: null, ttl: null, handle: 'h1', user: 'ada', maxAge: 5000, device: { ip: '10.0.0.1' } })), true)
  const sess = stored(memory, 'k1') as ConnectSession
  t.equal(sess.user, '"ada"')
  t.equal(sess.n, '1')
  t.equal(sess.cookie.originalMaxAge, 600_000, 'no deadline from the plugin: gcTtl')
  const expires = Date.parse(sess.cookie.expires as string)
  t.ok(expires >= now + 599_000 && expires <= Date.now() + 600_000, 'cookie.expires: what connect stores turn into their TTL')
  t.match(sess[META_FIELD], { createdAt: now, lastAccessAt: now, expiresAt: null, maxAge: 5000, user: 'ada', handle: 'h1', device: { ip: '10.0.0.1' } })
  const record = await store.load('k1')
  t.same(record, { data: new Map([['user', '"ada"'], ['n', '1']]), createdAt: now, lastAccessAt: now, expiresAt: null, maxAge: 5000, user: 'ada', device: { ip: '10.0.0.1' } })
  // A save that leaves maxAge, user, device and handle undefined keeps them.
  t.equal(await store.save('k1', update({ set: new Map([['n', '2']]), ttl: 30, expiresAt: now + 30_000 })), true)
  t.match(stored(memory, 'k1'), { n: '2', user: '"ada"', cookie: { originalMaxAge: 30_000 }, [META_FIELD]: { maxAge: 5000, user: 'ada', handle: 'h1', device: { ip: '10.0.0.1' }, expiresAt: now + 30_000 } })
  // null unbinds and resets.
  await store.save('k1', update({ user: null, maxAge: null, device: null }))
  t.match(stored(memory, 'k1'), { [META_FIELD]: { maxAge: null, user: null, device: null } })
  t.equal(await store.destroy('k1'), true)
  t.equal(await store.destroy('k1'), false)
  t.equal(await store.load('k1'), null)
})

t.test('data keys named like the reserved fields (cookie, the metadata field) and __proto__ round-trip', async (t) => {
  const memory = new session.MemoryStore()
  const store = connectStore(memory)
  const data = new Map([['cookie', '"chocolate"'], [META_FIELD, '{"mine":true}'], ['__proto__', '{"polluted":true}'], ['constructor', '1']])
  await store.save('k2', update({ create: true, replace: true, set: data }))
  t.same((await store.load('k2'))?.data, data)
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.equal((stored(memory, 'k2') as ConnectSession).cookie.expires !== null, true, 'the connect cookie stays the store\'s')
  await store.save('k2', update({ delete: ['cookie'] }))
  t.same([...((await store.load('k2'))?.data.keys() ?? [])].sort(), ['__lazySession', '__proto__', 'constructor'])
})

t.test('a session written by express-session or @fastify/session (no metadata) loads, its values JSON-serialized', async (t) => {
  const memory = new session.MemoryStore()
  const expires = new Date(Date.now() + 60_000)
  await new Promise<void>((resolve) => { memory.set('foreign', { cookie: { originalMaxAge: 60_000, expires }, user: { id: 7 } } as unknown as session.SessionData, () => resolve()) })
  const record = await connectStore(memory).load('foreign')
  t.same(record?.data, new Map([['user', '{"id":7}']]))
  t.equal(record?.expiresAt, expires.getTime())
  await new Promise<void>((resolve) => { memory.set('browser', { cookie: { originalMaxAge: null, expires: null }, a: 1 } as unknown as session.SessionData, () => resolve()) })
  t.equal((await connectStore(memory).load('browser'))?.expiresAt, null)
})

t.test('promise style: methods declared without a callback are awaited', async (t) => {
  const map = new Map<string, ConnectSession>()
  const calls: string[] = []
  const promiseStore = {
    async get (sid: string) { calls.push('get'); return map.get(sid) ?? null },
    async set (sid: string, sess: ConnectSession) { calls.push('set'); map.set(sid, JSON.parse(JSON.stringify(sess))) },
    async destroy (sid: string) { calls.push('destroy'); map.delete(sid) }
  }
  const store = connectStore(promiseStore, { timeout: 0 })
  await store.save('p', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  t.same((await store.load('p'))?.data, new Map([['a', '1']]))
  t.equal(await store.destroy('p'), true)
  t.same(calls, ['set', 'get', 'get', 'destroy'], 'a new session is written without a read')
  // A synchronous store that returns its value directly works too.
  const sync = { get: (sid: string) => map.get(sid) ?? null, set: (sid: string, sess: ConnectSession) => { map.set(sid, sess) }, destroy: (sid: string) => { map.delete(sid) } }
  await connectStore(sync).save('s', update({ create: true, replace: true, set: new Map([['b', '2']]) }))
  t.same((await connectStore(sync).load('s'))?.data, new Map([['b', '2']]))
})

t.test('a store that answers with an error, throws, or rejects makes a rejected promise', async (t) => {
  const failure = new Error('database is down')
  const callbackError = { get (_sid: string, cb: (e: unknown) => void) { cb(failure) }, set (_s: string, _x: unknown, cb: (e: unknown) => void) { cb('text error') }, destroy (_s: string, cb: (e: unknown) => void) { cb(failure) } }
  await t.rejects(connectStore(callbackError).load('x'), failure)
  await t.rejects(connectStore(callbackError).save('x', update({ create: true, replace: true, set: new Map([['a', '1']]) })), { message: 'text error' })
  const throwing = { get (_sid: string, _cb: unknown) { throw failure }, set () {}, destroy () {} }
  await t.rejects(connectStore(throwing).load('x'), failure)
  const throwingText = { get (_sid: string, _cb: unknown) { throw 'thrown text' as unknown }, set () {}, destroy () {} }
  await t.rejects(connectStore(throwingText).load('x'), { message: 'thrown text' })
  // A callback-style method that also returns a rejected promise (connect-redis when its callback throws).
  const rejecting = { async get (_sid: string, _cb: unknown) { throw failure }, set () {}, destroy () {} }
  await t.rejects(connectStore(rejecting).load('x'), failure)
  const promiseRejecting = { async get (_sid: string) { throw failure }, async set () {}, async destroy () {} }
  await t.rejects(connectStore(promiseRejecting).load('x'), failure)

  const app = Fastify()
  await app.register(plugin, { secret: CONFORMANCE_SECRET, store: connectStore(callbackError) })
  app.get('/', async (request) => (await request.loadSession()).data())
  const cookie = '__Host-session=' + 'a'.repeat(32) + '.' + 'b'.repeat(43)
  const response = await app.inject({ url: '/', headers: { cookie } })
  t.equal(response.statusCode, 200, 'a forged cookie never reaches the store')
  const first = await app.inject({ url: '/' })
  t.equal(first.statusCode, 200, 'no cookie: no store call')
  await app.close()
})

t.test('a store failure fails the request with 503 and a generic message', async (t) => {
  const working = new session.MemoryStore()
  let broken = false
  const flaky = {
    get: (sid: string, cb: (e: unknown, s?: unknown) => void) => { if (broken) cb(new Error('connection refused')); else working.get(sid, cb) },
    set: (sid: string, sess: ConnectSession, cb: (e?: unknown) => void) => { working.set(sid, sess as unknown as session.SessionData, cb) },
    destroy: (sid: string, cb: (e?: unknown) => void) => { working.destroy(sid, cb) }
  }
  const app = Fastify()
  await app.register(plugin, { secret: CONFORMANCE_SECRET, store: connectStore(flaky) })
  app.post('/login', async (request) => { (await request.loadSession()).set('user', 'ada'); return 'ok' })
  app.get('/', async (request) => (await request.loadSession()).data())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))?.header as string
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { user: 'ada' })
  broken = true
  const response = await app.inject({ url: '/', headers: { cookie } })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.notMatch(response.body, /connection refused/)
  await app.close()
})

t.test('touch: true sends saves that change only lastAccessAt through the store\'s touch', async (t) => {
  const memory = new session.MemoryStore()
  const calls: string[] = []
  for (const name of ['set', 'touch'] as const) {
    const original = memory[name].bind(memory)
    memory[name] = ((sid: string, sess: session.SessionData, cb?: (e?: unknown) => void) => { calls.push(name); original(sid, sess, cb) }) as typeof memory.set
  }
  const store = connectStore(memory, { touch: true })
  const now = Date.now()
  const meta = { createdAt: now, lastAccessAt: now, expiresAt: now + 60_000, ttl: 60 }
  await store.save('t', update({ ...meta, create: true, replace: true, set: new Map([['a', '1']]) }))
  await store.save('t', update({ ...meta, lastAccessAt: now + 1000, ttl: 59 }))
  t.same(calls, ['set', 'touch'], 'nothing but the access time changed: touch')
  await store.save('t', update({ ...meta, expiresAt: now + 120_000, ttl: 120 }))
  await store.save('t', update({ ...meta, set: new Map([['b', '2']]) }))
  t.same(calls, ['set', 'touch', 'set', 'set'], 'a new expiry or new data: a whole set')
  t.equal((stored(memory, 't') as ConnectSession).cookie.originalMaxAge, 60_000)

  // Off by default: a connect store's touch does not persist lastAccessAt, which idleTimeout reads.
  calls.length = 0
  const plain = connectStore(memory)
  await plain.save('t', update({ ...meta, lastAccessAt: now + 2000 }))
  t.same(calls, ['set'])
  t.equal((await plain.load('t'))?.lastAccessAt, now + 2000)
})

t.test('connectStore() refuses what is not an express-session store', async (t) => {
  t.throws(() => connectStore({} as never), TypeError)
  t.throws(() => connectStore(null as never), /get, set and destroy/)
})

t.test('per-user index over a store that can list its sessions (all()): list, revoke, revokeAll', async (t) => {
  const memory = new session.MemoryStore()
  const store = connectStore(memory)
  const now = Date.now()
  const save = (key: string, changes: Parameters<typeof update>[0]): Promise<boolean> =>
    store.save(key, update({ create: true, replace: true, set: new Map([['a', '1']]), createdAt: now, lastAccessAt: now, expiresAt: now + 60_000, ...changes }))
  await save('k-ada-1', { handle: 'h1', user: 'ada', device: { ip: '10.0.0.1', userAgent: 'Firefox' } })
  await save('k-ada-2', { handle: 'h2', user: 'ada', lastAccessAt: now + 5 })
  await save('k-ada-3', { handle: 'h3', user: 'ada', expiresAt: now - 1 })
  await save('k-bob', { handle: 'h4', user: 'bob' })
  await save('k-anonymous', { handle: 'h5' })
  // A session written by express-session itself has no binding: never listed.
  await new Promise<void>((resolve) => { memory.set('foreign', { cookie: { originalMaxAge: null, expires: null }, user: 'ada' } as unknown as session.SessionData, () => resolve()) })
  const list = await store.list?.('ada')
  t.same(list?.sort((a, b) => a.handle.localeCompare(b.handle)), [
    { handle: 'h1', createdAt: now, lastAccessAt: now, expiresAt: now + 60_000, device: { ip: '10.0.0.1', userAgent: 'Firefox' } },
    { handle: 'h2', createdAt: now, lastAccessAt: now + 5, expiresAt: now + 60_000 }
  ], 'live sessions of ada only')
  t.same(await store.list?.('nobody'), [])
  t.equal(await store.revoke?.('bob', 'h1'), false, 'a handle of another user is not revoked')
  t.equal(await store.revoke?.('ada', 'h1'), true)
  t.equal(await store.load('k-ada-1'), null)
  t.equal(await store.revoke?.('ada', 'h1'), false)
  await save('k-ada-4', { handle: 'h6', user: 'ada' })
  t.equal(await store.revokeAll?.('ada', 'h6'), 1, 'all but the excepted one')
  t.same((await store.list?.('ada'))?.map((info) => info.handle), ['h6'])
  t.equal(await store.revokeAll?.('ada'), 1)
  t.not(await store.load('k-bob'), null)
  // Rebinding and unbinding move a session in and out of the index.
  await store.save('k-bob', update({ user: 'ada', expiresAt: now + 60_000 }))
  t.same((await store.list?.('ada'))?.map((info) => info.handle), ['h4'])
  await store.save('k-bob', update({ user: null, expiresAt: now + 60_000 }))
  t.same(await store.list?.('ada'), [])
})

t.test('a store without all() has no per-user index: the plugin reports it unsupported', async (t) => {
  const store = connectStore({ get () {}, set () {}, destroy () {} })
  t.equal(store.list, undefined)
  t.equal(store.revoke, undefined)
  t.equal(store.revokeAll, undefined)
})

t.test('all() answering null, or an array with holes, lists nothing', async (t) => {
  for (const answer of [null, undefined, [null], {}]) {
    const store = connectStore({ get () {}, set () {}, destroy () {}, all: async () => answer })
    t.same(await store.list?.('ada'), [], JSON.stringify(answer))
  }
})
