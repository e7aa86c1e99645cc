import t from 'tap'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { CookieStore, handleOf, MemoryStore, RedisStore, storeKeyOf, type SessionStore, type SessionUpdate } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'
import { spawnRedis, uniquePrefix } from './fixtures/redis.ts'

// Every server-side store is called with storeKeyOf(id), a hash of the ID, never the ID; the session's handle,
// handleOf(storeKeyOf(id)), names it in logs, events and app.sessions.

function routes (app: FastifyInstance): void {
  app.post('/set', async (request) => {
    const session = await request.loadSession()
    for (const [key, value] of Object.entries(request.query as Record<string, string>)) session.set(key, value)
    await session.save()
    return { id: session.id, handle: session.handle }
  })
  app.get('/read', async (request) => {
    const session = await request.loadSession()
    return { id: session.id, handle: session.handle, reason: session.reason }
  })
  app.post('/touch', async (request) => {
    (await request.loadSession()).touch()
    return 'ok'
  })
}

/** A MemoryStore that records the key and update of every call. */
function recording (): { store: SessionStore, calls: Array<{ op: string, key: string, update?: SessionUpdate }> } {
  const memory = new MemoryStore()
  const calls: Array<{ op: string, key: string, update?: SessionUpdate }> = []
  return {
    calls,
    store: {
      load: (key) => { calls.push({ op: 'load', key }); return memory.load(key) },
      save: (key, update) => { calls.push({ op: 'save', key, update }); return memory.save(key, update) },
      destroy: (key) => { calls.push({ op: 'destroy', key }); return memory.destroy(key) },
      close: () => { memory.close() }
    }
  }
}

t.test('the store is called with storeKeyOf(id), never the ID, and every save carries the handle', async (t) => {
  const { store, calls } = recording()
  const app = await build({ store, idleTimeout: 600 }, routes)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/set?a=1' })
  const cookie = sessionCookie(response)?.header as string
  const { id, handle } = (await app.inject({ url: '/read', headers: { cookie } })).json()
  t.equal(handle, handleOf(storeKeyOf(id)), 'session.handle = handleOf(storeKeyOf(id))')
  t.not(handle, id)
  t.notOk(handle.includes(id.slice(0, 8)))
  await app.inject({ method: 'POST', url: '/set?b=2', headers: { cookie } })
  await app.inject({ method: 'POST', url: '/touch', headers: { cookie } })
  t.ok(calls.length >= 5)
  for (const call of calls) {
    t.equal(call.key, storeKeyOf(id), `${call.op}: the store key`)
    if (call.update !== undefined) t.equal(call.update.handle, handle, `${call.op}: the handle`)
  }
  t.same((await app.inject({ url: '/read', headers: { cookie: `__Host-session=${storeKeyOf(id)}` } })).json().reason, 'invalid', 'a store key is no cookie')
  t.same((await app.inject({ url: '/read', headers: { cookie: `__Host-session=${handle}` } })).json().reason, 'invalid', 'nor is a handle')
})

t.test('a new session has no handle until it is stored; CookieStore sessions have one the same way', async (t) => {
  for (const store of [new MemoryStore(), new CookieStore()]) {
    const app = await build({ store }, (app) => {
      routes(app)
      app.get('/fresh', async (request) => ({ handle: (await request.loadSession()).handle }))
    })
    t.same((await app.inject('/fresh')).json(), { handle: null })
    const created = await app.inject({ method: 'POST', url: '/set?a=1' })
    const { id, handle } = created.json()
    t.equal(handle, handleOf(storeKeyOf(id)), store.constructor.name)
    await app.close()
  }
})

t.test('logs carry the handle, never the ID', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, callback) { lines.push(String(chunk)); callback() } })
  const memory = new MemoryStore()
  t.teardown(() => memory.close())
  let failing = false
  const store: SessionStore = {
    load: async (key) => await memory.load(key),
    save: async (key, update) => { if (failing) throw new Error('write failed'); return await memory.save(key, update) },
    destroy: async (key) => await memory.destroy(key)
  }
  const app = await build({ store, onStoreError: 'fresh' }, routes, { logger: { level: 'debug', stream } })
  t.teardown(() => app.close())
  const created = await app.inject({ method: 'POST', url: '/set?a=1' })
  const { id, handle } = created.json()
  failing = true
  await app.inject({ method: 'POST', url: '/set?a=2', headers: { cookie: sessionCookie(created)?.header } })
  const warning = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg?.includes('store save failed'))
  t.equal(warning?.handle, handle, 'the warning names the session by its handle')
  t.notOk(lines.some((line) => line.includes(id)), 'no log line holds the ID')
})

t.test('RedisStore: no key in Redis contains a session ID; every key has a TTL', async (t) => {
  const { process: server } = await spawnRedis(t)
  const client = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { client.disconnect() })
  const prefix = uniquePrefix()
  const app = await build({ store: new RedisStore({ client, prefix }), userKey: 'userId', device: true }, routes)
  t.teardown(() => app.close())
  const ids: string[] = []
  for (const user of ['ada', 'ada', 'bob']) {
    const response = await app.inject({ method: 'POST', url: `/set?userId=${user}` })
    ids.push(response.json().id)
  }
  const keys = await client.keys(`${prefix}*`)
  t.ok(keys.length >= 3, `${keys.length} keys`)
  for (const key of keys) {
    for (const id of ids) t.notOk(key.includes(id), `${key} holds no ID`)
    t.ok(await client.pttl(key) > 0, `${key} has a TTL`)
    // DUMP: the value as Redis would copy it into a backup, whatever its type
    const dump = (await client.dumpBuffer(key)).toString('latin1')
    for (const id of ids) t.notOk(dump.includes(id), `${key}: no ID in its value`)
  }
})
