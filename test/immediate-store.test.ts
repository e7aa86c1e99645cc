import t from 'tap'
import { CookieStore, MemoryStore, type SessionStore } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'

// The embedded stores answer without waiting: a request's load and save on them take no turn of the event loop
// (the Promise-based SessionStore methods would cost several). Wrapped methods are still the ones called.

t.test('MemoryStore and CookieStore: the session is loaded as soon as loadSession() is called', async (t) => {
  for (const store of [new MemoryStore(), new CookieStore()]) {
    const app = await build({ store }, (app) => {
      app.get('/', async (request) => {
        const loading = request.loadSession()
        const now = request.sessionLoaded
        const session = await loading
        session.set('n', ((session.get('n') as number | undefined) ?? 0) + 1)
        return { now, n: session.get('n') }
      })
    })
    t.teardown(() => app.close())
    const first = await app.inject('/')
    t.same(first.json(), { now: true, n: 1 }, `${store.constructor.name}: a new session`)
    const second = await app.inject({ url: '/', headers: { cookie: sessionCookie(first)?.header } })
    t.same(second.json(), { now: true, n: 2 }, `${store.constructor.name}: a stored session`)
  }
})

t.test('a MemoryStore whose load, save or destroy was replaced is called through the replacement', async (t) => {
  for (const method of ['load', 'save', 'destroy'] as const) {
    const store = new MemoryStore()
    const own = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>
    let calls = 0
    ;(store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => { calls++; return await own(...args) }
    const app = await build({ store }, (app) => {
      app.get('/set', async (request) => { (await request.loadSession()).set('a', 1); return 'ok' })
      app.get('/destroy', async (request) => { await (await request.loadSession()).destroy(); return 'ok' })
    })
    t.teardown(() => app.close())
    const cookie = sessionCookie(await app.inject('/set'))?.header
    await app.inject({ url: '/set', headers: { cookie } })
    await app.inject({ url: '/destroy', headers: { cookie } })
    t.ok(calls > 0, `${method}: the replacement was called`)
  }
})

t.test('a store whose save throws instead of rejecting: 503 under fail, a logged warning under fresh', async (t) => {
  const memory = new MemoryStore()
  const store: SessionStore = {
    load: (id) => memory.load(id),
    save: () => { throw new Error('the store is broken') },
    destroy: (id) => memory.destroy(id)
  }
  const routes = (app: import('fastify').FastifyInstance): void => {
    app.get('/', async (request) => { (await request.loadSession()).set('a', 1); return 'ok' })
  }
  const failing = await build({ store }, routes)
  t.teardown(() => failing.close())
  const response = await failing.inject('/')
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.notMatch(response.body, /broken/, "the store's own error stays on the server")

  const warnings: string[] = []
  const fresh = await build({ store, onStoreError: 'fresh' }, routes, {
    logger: { level: 'warn', stream: { write: (line: string) => { warnings.push(JSON.parse(line).msg) } } }
  })
  t.teardown(() => fresh.close())
  const answered = await fresh.inject('/')
  t.equal(answered.statusCode, 200)
  t.equal(answered.headers['set-cookie'], undefined, 'nothing stored, no cookie')
  t.ok(warnings.some((message) => /store save failed/.test(message)), 'the failure is logged')
})

t.test('CookieStore: a revocations client that throws instead of rejecting fails the load like one that rejects', async (t) => {
  const broken = {
    get: (): Promise<string | null> => { throw new Error('no connection') },
    set: async (): Promise<unknown> => 'OK'
  }
  const routes = (app: import('fastify').FastifyInstance): void => {
    app.get('/login', async (request) => { (await request.loadSession()).set('userId', 'ada'); return 'ok' })
    app.get('/me', async (request) => ({ user: (await request.loadSession()).get('userId') ?? null }))
  }
  // Signed in through a store that works; the cookie is then read by apps whose revocation list is unreachable.
  const working = await build({ store: new CookieStore(), userKey: 'userId' }, routes)
  t.teardown(() => working.close())
  const cookie = sessionCookie(await working.inject('/login'))?.header

  const failing = await build({ store: new CookieStore({ revocations: { client: broken } }), userKey: 'userId' }, routes)
  t.teardown(() => failing.close())
  const response = await failing.inject({ url: '/me', headers: { cookie } })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')

  const fresh = await build({ store: new CookieStore({ revocations: { client: broken } }), userKey: 'userId', onStoreError: 'fresh' }, routes)
  t.teardown(() => fresh.close())
  const answered = await fresh.inject({ url: '/me', headers: { cookie } })
  t.equal(answered.statusCode, 200)
  t.same(answered.json(), { user: null }, 'not signed in: the revocation could not be checked')
})

t.test('store work runs in call order: a save() called while regenerate() is still running goes after it', async (t) => {
  const memory = new MemoryStore()
  const order: string[] = []
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const store: SessionStore = {
    load: (id) => memory.load(id),
    save: async (id, update) => { order.push(update.create ? 'create' : 'save'); return await memory.save(id, update) },
    destroy: async (id) => { order.push('destroy'); await held; return await memory.destroy(id) }
  }
  const app = await build({ store }, (app) => {
    app.get('/set', async (request) => { (await request.loadSession()).set('a', 1); return 'ok' })
    app.get('/login', async (request) => {
      const session = await request.loadSession()
      const regenerating = session.regenerate()
      session.set('user', 'ada')
      const saving = session.save()
      release()
      await Promise.all([regenerating, saving])
      return { user: session.get('user') }
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject('/set'))?.header
  order.length = 0
  const response = await app.inject({ url: '/login', headers: { cookie } })
  t.same(response.json(), { user: 'ada' })
  t.same(order, ['destroy', 'create'], 'the old ID is removed first, then the session is stored under the new one')
})

t.test('a store that answers with thenables (not native Promises) works like one that answers with Promises', async (t) => {
  const memory = new MemoryStore()
  const thenable = <T>(promise: Promise<T>): PromiseLike<T> => ({ then: (resolve, reject) => promise.then(resolve, reject) })
  const store = {
    load: (id: string) => thenable(memory.load(id)),
    save: (id: string, update: Parameters<MemoryStore['save']>[1]) => thenable(memory.save(id, update)),
    destroy: (id: string) => thenable(memory.destroy(id))
  } as unknown as SessionStore
  const app = await build({ store }, (app) => {
    app.get('/', async (request) => {
      const session = await request.loadSession()
      session.set('n', ((session.get('n') as number | undefined) ?? 0) + 1)
      return { n: session.get('n') }
    })
  })
  t.teardown(() => app.close())
  const first = await app.inject('/')
  const second = await app.inject({ url: '/', headers: { cookie: sessionCookie(first)?.header } })
  t.same([first.json(), second.json()], [{ n: 1 }, { n: 2 }])
})
