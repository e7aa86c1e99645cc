// migrateFrom when a store fails, and its option checks.
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import plugin, { MemoryStore } from '../lib/index.ts'
import { CONFORMANCE_SECRET } from '../lib/conformance.ts'
import type { FastifyLazySessionOptions } from '../lib/options.ts'
import type { SessionStore } from '../lib/types.ts'
import { OLD_SECRET, oldApp, oldMemoryStore, setCookies, signInOld, type OldStore } from './fixtures/migrate.ts'

async function newApp (options: Partial<FastifyLazySessionOptions>): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(plugin, { secret: CONFORMANCE_SECRET, ...options })
  app.get('/me', async (request) => ({ user: (await request.loadSession()).get('user') ?? null }))
  t.teardown(() => app.close())
  return app
}

/** @fastify/session's MemoryStore with a session in it, and the old cookie; `failing` makes its get/destroy answer with an error. */
async function oldSession (): Promise<{ store: OldStore & { store: Map<string, unknown> }, cookie: string, fail: (method: 'get' | 'destroy') => void }> {
  const store = oldMemoryStore()
  const before = await oldApp(store)
  const cookie = await signInOld(before, { user: 'ada' })
  await before.close()
  const sid = [...store.store.keys()][0] as string
  return {
    store,
    cookie,
    fail (method) {
      // The error names the session ID, as some stores' errors do: it must not reach the client or the logs.
      const message = `connection lost while reading ${sid}`
      // get answers with an Error, destroy with a string (old stores do both).
      store[method] = (_id: string, callback: (error: unknown) => void) => { callback(method === 'get' ? new Error(message) : message) }
    }
  }
}

t.test('the old store fails: 503 under onStoreError "fail", with no session ID in the error', async (t) => {
  for (const method of ['get', 'destroy'] as const) {
    const old = await oldSession()
    old.fail(method)
    const logs: string[] = []
    const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { logs.push(line) } } } })
    await app.register(plugin, { secret: CONFORMANCE_SECRET, migrateFrom: { secret: OLD_SECRET, store: old.store } })
    app.get('/me', async (request) => ({ user: (await request.loadSession()).get('user') ?? null }))
    const response = await app.inject({ url: '/me', headers: { cookie: old.cookie } })
    await app.close()
    t.equal(response.statusCode, 503, method)
    t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
    const sid = [...old.store.store.keys()][0] as string
    t.notMatch(response.body + logs.join(''), sid, 'no old session ID in the response or the logs')
    t.match(logs.join(''), /\[session id\]/, 'the cause is logged, the ID taken out')
  }
})

t.test('the old store fails under onStoreError "fresh": a new empty session, the old cookie kept', async (t) => {
  const old = await oldSession()
  old.fail('get')
  const app = await newApp({ onStoreError: 'fresh', migrateFrom: { secret: OLD_SECRET, store: old.store } })
  const response = await app.inject({ url: '/me', headers: { cookie: old.cookie } })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { user: null })
  t.equal(response.headers['set-cookie'], undefined)
})

t.test('our store fails while the session moves in: nothing is lost, the old session and cookie stay', async (t) => {
  const old = await oldSession()
  const memory = new MemoryStore()
  let failing = true
  const store: SessionStore = {
    load: (id) => memory.load(id),
    save: async (id, update) => { if (failing) throw new Error('redis down'); return await memory.save(id, update) },
    destroy: (id) => memory.destroy(id)
  }
  const fresh = await newApp({ store, onStoreError: 'fresh', migrateFrom: { secret: OLD_SECRET, store: old.store } })
  const response = await fresh.inject({ url: '/me', headers: { cookie: old.cookie } })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { user: null })
  t.equal(response.headers['set-cookie'], undefined, 'neither our cookie nor a deletion of the old one')
  t.equal(old.store.store.size, 1)

  const fail = await newApp({ store, migrateFrom: { secret: OLD_SECRET, store: old.store } })
  t.equal((await fail.inject({ url: '/me', headers: { cookie: old.cookie } })).statusCode, 503)
  t.equal(old.store.store.size, 1)

  failing = false
  const recovered = await fail.inject({ url: '/me', headers: { cookie: old.cookie } })
  t.same(recovered.json(), { user: 'ada' }, 'moved once the store is back')
  t.equal(setCookies(recovered).get('sessionId')?.value, '')
  t.equal(old.store.store.size, 0)
})

t.test('invalid migrateFrom options fail register with FST_SESSION_INVALID_OPTION', async (t) => {
  const store = oldMemoryStore()
  const cases: Array<[unknown, RegExp]> = [
    ['yes', /migrateFrom/],
    [null, /migrateFrom/],
    [{ secret: OLD_SECRET }, /`store`/],
    [{ secret: OLD_SECRET, store: { get () {} } }, /`store`/],
    [{ store }, /`secret`/],
    [{ secret: [], store }, /`secret`/],
    [{ secret: [OLD_SECRET, 3], store }, /`secret`/],
    [{ secret: '', store }, /`secret`/],
    [{ cookieName: 'bad name', secret: OLD_SECRET, store }, /`cookieName`/],
    [{ cookieName: 7, secret: OLD_SECRET, store }, /`cookieName`/],
    [{ secret: OLD_SECRET, store, cookie: 'x' }, /`cookie`/],
    [{ secret: OLD_SECRET, store, cookie: null }, /`cookie`/],
    [{ secret: OLD_SECRET, store, cookie: { path: 'app' } }, /`cookie.path`/],
    [{ secret: OLD_SECRET, store, cookie: { path: 1 } }, /`cookie.path`/],
    [{ secret: OLD_SECRET, store, cookie: { domain: 1 } }, /`cookie.domain`/]
  ]
  for (const [migrateFrom, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => {
      await app.register(plugin, { secret: CONFORMANCE_SECRET, migrateFrom: migrateFrom as never })
      await app.ready()
    }, { code: 'FST_SESSION_INVALID_OPTION', message }, JSON.stringify(migrateFrom))
    await app.close()
  }
  const app = Fastify()
  await app.register(plugin, { secret: CONFORMANCE_SECRET, migrateFrom: { secret: OLD_SECRET, store, cookie: { path: '/', domain: 'example.com' } } })
  await app.ready()
  await app.close()
})
