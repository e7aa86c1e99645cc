import type { FastifyInstance, FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import { CookieStore, MemoryStore, RedisStore, type SessionStore } from '../lib/index.ts'
import { handleOf, storeKeyOf } from '../lib/signing.ts'
import { build, fakeClock, sessionCookie } from './fixtures/app.ts'
import { observe, sequence, serialize, type Published } from './fixtures/observe.ts'
import { connect, startRedis, uniquePrefix } from './fixtures/redis.ts'

const NAME = 'sid'
const handle = (id: string): string => handleOf(storeKeyOf(id))

/** The app of the lifecycle test, which keeps each request and the ID its session had when the response went out. */
async function lifecycleApp (t: Test, store: SessionStore | CookieStore): Promise<{ app: FastifyInstance, last: () => { request: FastifyRequest, id: string | null, handle: string | null } }> {
  let lastRequest: FastifyRequest | null = null
  let lastId: string | null = null
  let lastHandle: string | null = null
  const app = await build({ store, idleTimeout: 10.5, cookie: { name: NAME } }, (app) => {
    app.addHook('onRequest', async (request) => { lastRequest = request; lastId = null; lastHandle = null })
    app.addHook('onResponse', async (request) => {
      lastId = request.sessionLoaded ? request.session.id : null
      lastHandle = request.sessionLoaded ? request.session.handle : null
    })
    app.get('/write', async (request) => {
      const session = await request.loadSession()
      session.set('n', (session.get('n') as number | undefined ?? 0) + 1)
      return 'ok'
    })
    app.get('/read', async (request) => (await request.loadSession()).reason)
    app.get('/regenerate', async (request) => { await (await request.loadSession()).regenerate(); return 'ok' })
    app.get('/destroy', async (request) => { await (await request.loadSession()).destroy(); return 'ok' })
    app.get('/empty', async (request) => { (await request.loadSession()).delete('n'); return 'ok' })
  })
  t.teardown(() => app.close())
  return { app, last: () => ({ request: lastRequest as unknown as FastifyRequest, id: lastId, handle: lastHandle }) }
}

/**
 * Drives every event through one store: create, load, save, regenerate, a refused old ID, a refused forgery, idle
 * expiry, destroy, and a session emptied of its last key; checks each message and that none holds an ID or a cookie.
 */
async function lifecycle (t: Test, kind: 'MemoryStore' | 'CookieStore' | 'RedisStore', store: SessionStore | CookieStore): Promise<void> {
  const clock = fakeClock(t)
  const { app, last } = await lifecycleApp(t, store)
  const events = observe(t)
  const serverSide = kind !== 'CookieStore'
  const ids: string[] = []
  const cookies: string[] = []

  /** One request: its Set-Cookie value (when any), and what it published, every message checked for the common fields. */
  async function step (url: string, cookie?: string): Promise<{ published: Published[], id: string | null, cookie: string | undefined }> {
    const response = await app.inject({ url, headers: cookie === undefined ? {} : { cookie: `${NAME}=${cookie}` } })
    t.equal(response.statusCode, 200, url)
    const published = events.take()
    const { request, id, handle: shown } = last()
    if (id !== null) ids.push(id)
    t.equal(shown, id === null ? null : handle(id), 'events name a session by the handle session.handle shows')
    const set = sessionCookie(response, NAME)?.value
    if (set !== undefined && set !== '') cookies.push(set)
    for (const { channel, message } of published) {
      t.equal(message.request, request, `${channel}: the request it happened in`)
      t.equal(message.store, kind, `${channel}: the store's name`)
    }
    return { published, id, cookie: set }
  }
  const only = (published: Published[], channel: string): Record<string, unknown> => {
    const found = published.filter((entry) => entry.channel === channel)
    t.equal(found.length, 1, `one ${channel} message`)
    return (found[0] as Published).message
  }
  const calls = (operations: string[]): string[] => serverSide ? operations.map((operation) => `store:${operation}`) : []

  // A new session: stored once, so created then saved.
  const first = await step('/write')
  const h1 = handle(first.id as string)
  t.same(sequence(first.published), [...calls(['save']), 'created', 'saved'])
  t.equal(only(first.published, 'created').handle, h1)
  t.equal(only(first.published, 'saved').handle, h1)
  if (serverSide) {
    const phases = first.published.filter(({ channel }) => channel.startsWith('store:'))
    t.same(phases.map(({ channel }) => channel), ['store:start', 'store:end', 'store:asyncStart', 'store:asyncEnd'], 'a store call that succeeds')
    for (const { message } of phases) t.match(message, { operation: 'save', handle: h1 })
    t.equal(phases[3]?.message.result, true, 'the save resolved true')
    t.equal(phases[0]?.message.result, undefined, 'no result before the store answers')
  }

  // Read and write with it.
  const read = await step('/read', first.cookie)
  t.same(sequence(read.published), [...calls(['load']), 'loaded'])
  t.equal(only(read.published, 'loaded').handle, h1)
  if (serverSide) t.equal(only(read.published, 'store:asyncEnd').result, true, 'a load reports found, not the record')
  const write = await step('/write', first.cookie)
  t.same(sequence(write.published), [...calls(['load']), 'loaded', ...calls(['save']), 'saved'])
  t.equal(only(write.published, 'saved').handle, h1)
  const current = write.cookie ?? first.cookie

  // Regenerate: the old session goes, the data is saved under a new ID.
  const regenerated = await step('/regenerate', current)
  const h2 = handle(regenerated.id as string)
  t.not(h2, h1)
  t.same(sequence(regenerated.published), [...calls(['load']), 'loaded', ...calls(['destroy']), 'regenerated', ...calls(['save']), 'saved'])
  t.match(only(regenerated.published, 'regenerated'), { handle: h2, oldHandle: h1, newHandle: h2 })
  t.equal(only(regenerated.published, 'saved').handle, h2)
  if (serverSide) {
    const starts = regenerated.published.filter(({ channel }) => channel === 'store:start').map(({ message }) => [message.operation, message.handle])
    t.same(starts, [['load', h1], ['destroy', h1], ['save', h2]], 'each store call names the session it concerns')
  }

  // The old cookie: a server-side store no longer has it; a sealed cookie still opens (a CookieStore cannot forget one).
  const old = await step('/read', current)
  if (serverSide) {
    t.same(sequence(old.published), ['store:load', 'refused'])
    t.match(only(old.published, 'refused'), { reason: 'not-found', handle: h1 })
    t.equal(only(old.published, 'store:asyncEnd').result, false, 'the load found nothing')
  } else {
    t.same(sequence(old.published), ['loaded'])
  }

  // A forged cookie: refused before any store call, no handle to give.
  const forged = await step('/read', (regenerated.cookie as string).slice(0, -4) + 'AAAA')
  t.same(sequence(forged.published), ['refused'])
  t.match(only(forged.published, 'refused'), { reason: 'invalid', handle: null })

  // Idle past idleTimeout (10.5 s; the store keeps it 11 s): refused as expired; the request writes to its new session,
  // and the expired one is removed from the store at the end, under its own handle.
  clock.advance(10.6)
  const expired = await step('/write', regenerated.cookie)
  const h5 = handle(expired.id as string)
  t.same(sequence(expired.published), [...calls(['load']), 'refused', ...calls(['save']), 'created', 'saved', ...calls(['destroy'])])
  t.match(only(expired.published, 'refused'), { reason: 'expired', handle: h2 })
  t.equal(only(expired.published, 'created').handle, h5)
  if (serverSide) {
    const starts = expired.published.filter(({ channel }) => channel === 'store:start').map(({ message }) => [message.operation, message.handle])
    t.same(starts, [['load', h2], ['save', h5], ['destroy', h2]])
  }

  // destroy()
  const third = await step('/write')
  const h3 = handle(third.id as string)
  const destroyed = await step('/destroy', third.cookie)
  t.same(sequence(destroyed.published), [...calls(['load']), 'loaded', ...calls(['destroy']), 'destroyed'])
  t.equal(only(destroyed.published, 'destroyed').handle, h3)
  t.equal(destroyed.cookie, '', 'the cookie is cleared')

  // Emptied of its last key: removed (a server-side store removes it in the save that deletes the key).
  const fourth = await step('/write')
  const h4 = handle(fourth.id as string)
  const emptied = await step('/empty', fourth.cookie)
  t.same(sequence(emptied.published), [...calls(['load']), 'loaded', ...calls(['save']), 'destroyed'])
  t.equal(only(emptied.published, 'destroyed').handle, h4)

  t.equal(new Set(ids).size, 5, 'five sessions')
  const text = serialize(events.all)
  for (const id of ids) t.notOk(text.includes(id), 'no message holds a session ID')
  for (const cookie of cookies) t.notOk(text.includes(cookie), 'no message holds a cookie value')
  t.notOk(text.includes('"n"'), 'no message holds a session key or value')
}

t.test('MemoryStore: every lifecycle event and store call, with the handle and never the ID', async (t) => {
  await lifecycle(t, 'MemoryStore', new MemoryStore())
})

t.test('CookieStore: every lifecycle event, with the handle and never the ID or the sealed cookie', async (t) => {
  await lifecycle(t, 'CookieStore', new CookieStore())
})

t.test('RedisStore: every lifecycle event and store call, with the handle and never the ID', async (t) => {
  const server = await startRedis(t)
  await lifecycle(t, 'RedisStore', new RedisStore({ client: connect(t, server), prefix: uniquePrefix() }))
})

t.test('a custom store is named by its class, a plain object store "SessionStore"', async (t) => {
  class AuditedStore extends MemoryStore {}
  const memory = new MemoryStore()
  const plain: SessionStore = { load: (id) => memory.load(id), save: (id, update) => memory.save(id, update), destroy: (id) => memory.destroy(id) }
  for (const [store, name] of [[new AuditedStore(), 'AuditedStore'], [plain, 'SessionStore'], [Object.assign(Object.create(null) as object, plain), 'SessionStore']] as const) {
    const app = await build({ store }, (app) => {
      app.get('/', async (request) => { (await request.loadSession()).set('a', 1); return 'ok' })
    })
    t.teardown(() => app.close())
    const events = observe(t)
    await app.inject('/')
    t.same([...new Set(events.take().map(({ message }) => message.store))], [name])
  }
})
