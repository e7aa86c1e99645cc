import Fastify from 'fastify'
import t, { type Test } from 'tap'
import plugin, { RedisStore, type RedisStoreOptions } from '../lib/index.ts'
import { CONFORMANCE_SECRET, sessionCookie } from '../lib/conformance.ts'
import { connect, ownServer, spawnReplica, startRedis, uniquePrefix, until, update, within } from './fixtures/redis.ts'
import { Redis } from 'ioredis'

/** A store closed at the end of `t` (it opens connections of its own for `durability`). */
function durable (t: Test, options: RedisStoreOptions): RedisStore {
  const store = new RedisStore(options)
  t.teardown(() => store.close())
  return store
}

const session = (value: string) => update({ create: true, replace: true, set: new Map([['value', value]]), handle: 'h-' + value, user: 'ada' })

t.test('durability: invalid options throw FST_SESSION_INVALID_OPTION naming the option', async (t) => {
  const client = new Redis({ lazyConnect: true })
  const cases: Array<[unknown, RegExp]> = [
    [null, /`durability` must be an object/],
    [1, /`durability` must be an object/],
    [{}, /`durability.replicas` must be a whole number ≥ 1, got undefined/],
    [{ replicas: 0 }, /`durability.replicas`.*got 0/],
    [{ replicas: 1.5 }, /`durability.replicas`.*got 1.5/],
    [{ replicas: '1' }, /`durability.replicas`.*got 1/],
    [{ replicas: 1, timeout: 0 }, /`durability.timeout` must be a whole positive number of milliseconds \(WAIT 0 would wait forever\), got 0/],
    [{ replicas: 1, timeout: 2.5 }, /`durability.timeout`.*got 2.5/],
    [{ replicas: 1, timeout: '100' }, /`durability.timeout`.*got 100/],
    [{ replicas: 1, timeout: 2 ** 31 }, /`durability.timeout`.*got 2147483648/],
    [{ replicas: 1, connections: 0 }, /`durability.connections` must be a whole number ≥ 1, got 0/],
    [{ replicas: 1, connections: '2' }, /`durability.connections`.*got 2/]
  ]
  for (const [durability, message] of cases) {
    t.throws(() => new RedisStore({ client, durability } as RedisStoreOptions), { code: 'FST_SESSION_INVALID_OPTION', message }, String(message))
  }
})

t.test('durability with a replica: every write resolves once the replica has it', ownServer, async (t) => {
  const server = await startRedis(t)
  const replica = await spawnReplica(t, server.port)
  const prefix = uniquePrefix()
  const store = durable(t, { client: connect(t, server), prefix, durability: { replicas: 1, timeout: 2000 } })
  const onReplica = connect(t, { ...server, url: `redis://127.0.0.1:${replica.port}` })
  // Read right after each write resolves: WAIT guarantees the replica applied it (no polling).
  t.equal(await store.save('a', session('a')), true)
  t.equal(await onReplica.hget(prefix + 'a', 'd:value'), 'a')
  t.equal(await onReplica.hexists(prefix + 'user:ada', 'h-a'), 1, 'the index entry too')
  await store.save('b', session('b'))
  await store.save('c', session('c'))
  t.equal(await store.destroy('a'), true)
  t.equal(await onReplica.exists(prefix + 'a'), 0)
  t.equal(await store.revoke('ada', 'h-b'), true)
  t.equal(await onReplica.exists(prefix + 'b'), 0)
  t.equal(await store.revokeAll('ada'), 1)
  t.equal(await onReplica.exists(prefix + 'c'), 0)
})

t.test('durability: too few replicas rejects every write with FST_SESSION_STORE_UNAVAILABLE after the WAIT timeout; reads still work', ownServer, async (t) => {
  const server = await startRedis(t)
  await spawnReplica(t, server.port)
  const client = connect(t, server)
  const prefix = uniquePrefix()
  const plain = new RedisStore({ client, prefix })
  await plain.save('kept', session('kept'))
  // The store timeout leaves the connection a second to open: the WAIT's answer comes first.
  const store = durable(t, { client, prefix, timeout: 1000, durability: { replicas: 2, timeout: 200 } })
  // 1 of 2 as a rule; 0 when a loaded machine delays the one replica's acknowledgement past the 200 ms.
  const shortfall = { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /RedisStore (save|destroy|revoke): [01] of 2 replicas acknowledged the write within 200 ms/ }
  t.equal((await within(3000, store.load('kept')))?.data.get('value'), 'kept', 'loads never wait')
  await within(3000, t.rejects(store.save('session-s', session('s')), shortfall))
  t.equal(await client.exists(prefix + 'session-s'), 1, 'the write itself stays on the master: the caller cannot count on it')
  await within(3000, t.rejects(store.destroy('session-s'), shortfall))
  await within(3000, t.rejects(store.revoke('ada', 'h-kept'), shortfall))
  await within(3000, t.rejects(store.revokeAll('ada'), shortfall))
})

t.test('durability: a failing write or a refused WAIT rejects with FST_SESSION_STORE_UNAVAILABLE', ownServer, async (t) => {
  const server = await startRedis(t)
  await spawnReplica(t, server.port)
  const admin = connect(t, server)
  const prefix = uniquePrefix()
  const store = durable(t, { client: admin, prefix, durability: { replicas: 1, timeout: 1000 } })
  await admin.set(prefix + 'session-s', 'a string')
  await t.rejects(store.save('session-s', session('s')), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /RedisStore save: WRONGTYPE/ })
  // A user who may write but not WAIT: the script runs, the WAIT fails.
  await admin.call('ACL', 'SETUSER', 'no-wait', 'on', '>no-wait-password', '~*', '&*', '+@all', '-wait')
  const limited = durable(t, { client: connect(t, server, { username: 'no-wait', password: 'no-wait-password' }), prefix, durability: { replicas: 1, timeout: 1000 } })
  await t.rejects(limited.save('session-t', session('t')), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /RedisStore save: NOPERM/ })
})

t.test('durability: the store timeout covers the WAIT too, so a slow replica fails the write in time, not at the store timeout alone', ownServer, async (t) => {
  const server = await startRedis(t)
  const replica = await spawnReplica(t, server.port)
  replica.signal('SIGSTOP')
  t.teardown(() => replica.signal('SIGCONT'))
  const store = durable(t, { client: connect(t, server), prefix: uniquePrefix(), timeout: 1000, durability: { replicas: 1, timeout: 1500 } })
  // WAIT answers 0 after 1500 ms: longer than the 1000 ms store timeout, which must not cut it short.
  await within(5000, t.rejects(store.save('session-s', session('s')), { message: /0 of 1 replicas acknowledged the write within 1500 ms/ }))
})

t.test('durability: the default WAIT timeout is the store timeout', ownServer, async (t) => {
  const server = await startRedis(t)
  const store = durable(t, { client: connect(t, server), prefix: uniquePrefix(), timeout: 700, durability: { replicas: 1 } })
  await within(5000, t.rejects(store.save('session-s', session('s')), { message: /0 of 1 replicas acknowledged the write within 700 ms/ }))
})

t.test('durability through the plugin: a save without its replicas is a 503 under onStoreError fail, a fresh session under fresh', ownServer, async (t) => {
  const server = await startRedis(t)
  const store = durable(t, { client: connect(t, server), prefix: uniquePrefix(), timeout: 150, durability: { replicas: 1, timeout: 100 } })
  for (const onStoreError of ['fail', 'fresh'] as const) {
    const app = Fastify()
    await app.register(plugin, { secret: CONFORMANCE_SECRET, store, onStoreError })
    app.get('/login', async (request) => {
      (await request.loadSession()).set('user', 'ada')
      return 'ok'
    })
    t.teardown(() => app.close())
    const response = await within(3000, app.inject('/login'))
    if (onStoreError === 'fail') {
      t.equal(response.statusCode, 503)
      t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
    } else {
      t.equal(response.statusCode, 200)
      t.equal(sessionCookie(response), undefined, 'no cookie for a session that was not confirmed')
    }
  }
})

t.test('durability: loads never queue behind a write that waits for its replicas', ownServer, async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server)
  const prefix = uniquePrefix()
  await new RedisStore({ client, prefix }).save('kept', session('kept'))
  // No replica: the WAIT answers only after 2 s.
  const store = durable(t, { client, prefix, timeout: 1000, durability: { replicas: 1, timeout: 2000 } })
  let saveSettled = false
  const save = store.save('session-s', session('s')).finally(() => { saveSettled = true })
  t.equal((await store.load('kept'))?.data.get('value'), 'kept')
  t.equal(saveSettled, false, 'the load answered while the save was still waiting for a replica')
  await t.rejects(save, { message: /0 of 1 replicas/ })
})

t.test('durability: writes beyond `connections` wait for a free one; one that times out meanwhile is never sent', ownServer, async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server)
  const prefix = uniquePrefix()
  const store = durable(t, { client, prefix, timeout: 400, durability: { replicas: 1, timeout: 1000, connections: 1 } })
  // Opens the one connection, so that the writes below start on it at once.
  await t.rejects(store.save('session-warm', session('warm')))
  // Each WAIT holds the connection 1000 ms, each write may take 1400 ms: the third cannot start before 2000 ms.
  const results = await Promise.allSettled(['one', 'two', 'three'].map((name) => store.save('session-' + name, session(name))))
  t.same(results.map((result) => result.status), ['rejected', 'rejected', 'rejected'])
  t.equal(await client.exists(prefix + 'session-one'), 1)
  t.equal(await client.exists(prefix + 'session-three'), 0, 'its caller was told it failed: it was not written later')
})

t.test('durability: with a replica, concurrent writes share the connections; close() closes them and later writes reject', ownServer, async (t) => {
  const server = await startRedis(t)
  await spawnReplica(t, server.port)
  const client = connect(t, server)
  const store = new RedisStore({ client, prefix: uniquePrefix(), durability: { replicas: 1, timeout: 2000, connections: 2 } })
  const saved = await Promise.all(Array.from({ length: 10 }, (_, i) => store.save(`session-${i}`, session(String(i)))))
  t.same(saved, Array(10).fill(true))
  const connections = async (): Promise<number> => (await client.client('LIST') as string).split('\n').filter((line) => line.startsWith('id=')).length
  const before = await connections()
  await store.close()
  await until(10_000, 'the store\'s own connections are gone', async () => await connections() === before - 2)
  await t.rejects(store.save('session-late', session('late')), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /the store is closed/ })
  t.equal(await client.ping(), 'PONG', 'the client you passed stays open')
})
