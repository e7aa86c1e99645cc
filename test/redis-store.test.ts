import t, { type Test } from 'tap'
import { RedisStore, type RedisStoreOptions } from '../lib/stores/RedisStore.ts'
import { cleanUp, connect, ownServer, startRedis, uniquePrefix, update } from './fixtures/redis.ts'

const server = await startRedis(t)
const redis = connect(t, server)

/** A store on a fresh prefix, with its own client (closed at the end of `t`). */
function makeStore (tt: Test, options: Partial<RedisStoreOptions> = {}): { store: RedisStore, prefix: string } {
  const prefix = uniquePrefix()
  cleanUp(tt, server, prefix)
  return { store: new RedisStore({ client: connect(tt, server), prefix, ...options } as RedisStoreOptions), prefix }
}

t.test('a saved session loads back with its data and metadata', async (t) => {
  const { store } = makeStore(t)
  const data = new Map([
    ['__proto__', '{"polluted":true}'],
    ['constructor', '1'],
    ['ключ 🔑', '"значение ✓"'],
    ['createdAt', '"a user key named like a meta field"'],
    ['d:x', '"a user key that looks like a data field"'],
    ['empty', '']
  ])
  t.equal(await store.save('id-1', update({ create: true, replace: true, set: data, createdAt: 1000, lastAccessAt: 2000, expiresAt: 3000 })), true)
  const record = await store.load('id-1')
  t.same(record, { data, createdAt: 1000, lastAccessAt: 2000, expiresAt: 3000 })
  t.ok(record?.data instanceof Map)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
})

t.test('keys and values that are not well-formed UTF-16 or start with NUL round-trip exactly', async (t) => {
  const { store } = makeStore(t)
  // Only a custom serializer produces such values (JSON.stringify escapes lone surrogates).
  const data = new Map([
    ['lone \ud800 high', 'value \udc00 low'],
    ['\u0000nul first', '\u0000nul first value'],
    ['plain', '\ud83d\ude00 a real pair, "quoted" \\ back\nslash \u0001']
  ])
  t.equal(await store.save('id-odd', update({ create: true, replace: true, set: data })), true)
  t.same((await store.load('id-odd'))?.data, data)
  t.equal(await store.save('id-odd', update({ delete: ['lone \ud800 high'] })), true)
  t.same([...((await store.load('id-odd'))?.data.keys() ?? [])], ['\u0000nul first', 'plain'])
})

t.test('a RESP3 client (protocol: 3) reads sessions the same way', async (t) => {
  const prefix = uniquePrefix()
  cleanUp(t, server, prefix)
  const store = new RedisStore({ client: connect(t, server, { protocol: 3 }), prefix })
  const data = new Map([['__proto__', '1'], ['b', '"2"']])
  await store.save('s', update({ create: true, replace: true, set: data, createdAt: 1, lastAccessAt: 2, expiresAt: 3 }))
  t.same(await store.load('s'), { data, createdAt: 1, lastAccessAt: 2, expiresAt: 3 })
})

t.test('a browser-session (expiresAt null) round-trips as null', async (t) => {
  const { store } = makeStore(t)
  await store.save('id-1', update({ create: true, replace: true, set: new Map([['a', '1']]), expiresAt: null, ttl: null }))
  t.equal((await store.load('id-1'))?.expiresAt, null)
})

t.test('load of an unknown ID resolves null', async (t) => {
  const { store } = makeStore(t)
  t.equal(await store.load('never-stored'), null)
})

t.test('key layout: one hash `prefix + id`, data fields `d:<key>`, meta fields, a TTL', async (t) => {
  const { store, prefix } = makeStore(t)
  await store.save('abc', update({ create: true, replace: true, set: new Map([['user', '"ada"']]), createdAt: 1, lastAccessAt: 2, expiresAt: null }))
  t.equal(await redis.type(prefix + 'abc'), 'hash')
  t.same(await redis.hgetall(prefix + 'abc'), { createdAt: '1', lastAccessAt: '2', expiresAt: '', 'd:user': '"ada"' })
  t.ok(await redis.pttl(prefix + 'abc') > 0)
})

t.test('save with create: false on a missing session writes nothing and resolves false', async (t) => {
  const { store, prefix } = makeStore(t)
  t.equal(await store.save('gone', update({ set: new Map([['a', '1']]) })), false)
  t.equal(await redis.exists(prefix + 'gone'), 0)
  t.equal(await store.load('gone'), null)

  await store.save('destroyed', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  await store.destroy('destroyed')
  t.equal(await store.save('destroyed', update({ set: new Map([['late', '1']]) })), false, 'a late save does not resurrect')
  t.equal(await store.save('destroyed', update({ replace: true, set: new Map([['late', '1']]) })), false, 'nor does a late replace')
  t.equal(await store.save('destroyed', update()), false, 'nor a touch')
  t.equal(await redis.exists(prefix + 'destroyed'), 0)
})

t.test('set and delete change only their keys: concurrent saves of one session both keep their change', async (t) => {
  const { store } = makeStore(t)
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1'], ['b', '2'], ['c', '3']]) }))
  const results = await Promise.all([
    store.save('s', update({ set: new Map([['a', '10']]) })),
    store.save('s', update({ set: new Map([['d', '4']]), delete: ['b'] })),
    store.save('s', update({ delete: ['c', 'not-there'] }))
  ])
  t.same(results, [true, true, true])
  t.same([...(await store.load('s'))?.data ?? []].sort(), [['a', '10'], ['d', '4']])
})

t.test('replace drops every stored key that is not in set', async (t) => {
  const { store, prefix } = makeStore(t)
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1'], ['b', '2']]) }))
  t.equal(await store.save('s', update({ replace: true, set: new Map([['c', '3']]) })), true)
  t.same([...(await store.load('s'))?.data ?? []], [['c', '3']])
  t.equal(await store.save('s', update({ replace: true })), false, 'replace with nothing leaves no data: the session is removed')
  t.equal(await store.load('s'), null)
  t.equal(await redis.exists(prefix + 's'), 0)
})

t.test('every key carries a TTL: update.ttl when given, gcTtl when ttl is null', async (t) => {
  const { store, prefix } = makeStore(t, { gcTtl: 120 })
  await store.save('fixed', update({ create: true, replace: true, set: new Map([['a', '1']]), ttl: 3600 }))
  let pttl = await redis.pttl(prefix + 'fixed')
  t.ok(pttl > 3_590_000 && pttl <= 3_600_000, `ttl 3600 s → PTTL ${pttl}`)

  await store.save('browser', update({ create: true, replace: true, set: new Map([['a', '1']]), expiresAt: null, ttl: null }))
  pttl = await redis.pttl(prefix + 'browser')
  t.ok(pttl > 110_000 && pttl <= 120_000, `ttl null → gcTtl 120 s → PTTL ${pttl}`)

  // The absolute expiry, bracketed by the clock around the save: exact however slow the machine is.
  const before = Date.now()
  await store.save('fraction', update({ create: true, replace: true, set: new Map([['a', '1']]), ttl: 2.5 }))
  const after = Date.now()
  const expiresAt = await redis.call('PEXPIRETIME', prefix + 'fraction') as number
  t.ok(expiresAt >= before + 2500 && expiresAt <= after + 2500, `ttl 2.5 s → expires ${expiresAt - before} ms after the save began`)

  t.equal(await store.save('fixed', update({ set: new Map([['b', '2']]), ttl: 60 })), true)
  pttl = await redis.pttl(prefix + 'fixed')
  t.ok(pttl > 50_000 && pttl <= 60_000, `a change sets the new ttl → PTTL ${pttl}`)
})

t.test('the default gcTtl is one day', async (t) => {
  const prefix = uniquePrefix()
  cleanUp(t, server, prefix)
  const store = new RedisStore({ client: redis, prefix })
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]), ttl: null }))
  const pttl = await redis.pttl(prefix + 's')
  t.ok(pttl > 86_390_000 && pttl <= 86_400_000, `PTTL ${pttl}`)
})

t.test('a save with an empty change set (touch) refreshes TTL and metadata and keeps the data', async (t) => {
  const { store, prefix } = makeStore(t)
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1'], ['b', '2']]), createdAt: 1, lastAccessAt: 1, expiresAt: 5000, ttl: 30 }))
  t.equal(await store.save('s', update({ createdAt: 1, lastAccessAt: 99, expiresAt: 9000, ttl: 600 })), true)
  t.same(await store.load('s'), { data: new Map([['a', '1'], ['b', '2']]), createdAt: 1, lastAccessAt: 99, expiresAt: 9000 })
  t.ok(await redis.pttl(prefix + 's') > 590_000)
})

t.test('a ttl of zero or less removes the session at once', async (t) => {
  const { store, prefix } = makeStore(t)
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  await store.save('s', update({ ttl: 0 }))
  t.equal(await redis.exists(prefix + 's'), 0)
  t.equal(await store.load('s'), null)
})

t.test('a ttl that is not a finite number is refused before anything is written', async (t) => {
  const { store, prefix } = makeStore(t)
  for (const ttl of [Number.NaN, Number.POSITIVE_INFINITY, 1e20]) {
    await t.rejects(store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]), ttl })), TypeError)
  }
  t.equal(await redis.exists(prefix + 's'), 0)
})

t.test('destroy removes the session and resolves when there is none', async (t) => {
  const { store, prefix } = makeStore(t)
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  await store.destroy('s')
  t.equal(await redis.exists(prefix + 's'), 0)
  await store.destroy('s')
  await store.destroy('never-stored')
})

t.test('prefix: string, default and function give the key in Redis', async (t) => {
  const tag = uniquePrefix()
  cleanUp(t, server, tag)
  const session = update({ create: true, replace: true, set: new Map([['a', '1']]) })

  await new RedisStore({ client: redis, prefix: tag + 'app:' }).save('one', session)
  t.equal(await redis.exists(tag + 'app:one'), 1, 'string prefix')

  const byFunction = new RedisStore({ client: redis, prefix: (id) => `${tag}{user-sessions}:${id.toUpperCase()}` })
  await byFunction.save('two', session)
  t.equal(await redis.exists(`${tag}{user-sessions}:TWO`), 1, 'function prefix')
  t.same([...(await byFunction.load('two'))?.data ?? []], [['a', '1']])
  await byFunction.destroy('two')
  t.equal(await redis.exists(`${tag}{user-sessions}:TWO`), 0)

  if (!server.external) {
    const id = uniquePrefix()
    await new RedisStore({ client: redis }).save(id, session)
    t.equal(await redis.exists('sess:' + id), 1, 'default prefix sess:')
    await redis.del('sess:' + id)
  }
})

t.test('a hash the store did not write is not a session; unknown fields are ignored', async (t) => {
  const { store, prefix } = makeStore(t)
  await redis.hset(prefix + 'foreign', 'name', 'x')
  t.equal(await store.load('foreign'), null)
  await redis.hset(prefix + 'extra', 'createdAt', '1', 'lastAccessAt', '2', 'expiresAt', '3', 'd:a', '1', 'version', '2')
  t.same(await store.load('extra'), { data: new Map([['a', '1']]), createdAt: 1, lastAccessAt: 2, expiresAt: 3 })
  await redis.hset(prefix + 'odd-device', 'createdAt', '1', 'lastAccessAt', '2', 'expiresAt', '3', 'd:a', '1', 'device', '"a string"')
  t.equal((await store.load('odd-device'))?.device, null, 'a device that is not an object is none')
  await redis.hset(prefix + 'odd-device', 'device', '{"ip":"192.0.2.1","userAgent":7,"extra":"x"}')
  t.same((await store.load('odd-device'))?.device, { ip: '192.0.2.1' }, 'only the string fields of a SessionDevice')
})

t.test('a Redis error rejects with FST_SESSION_STORE_UNAVAILABLE and writes nothing', async (t) => {
  const { store, prefix } = makeStore(t)
  await redis.set(prefix + 'wrong-type-id', 'a string')
  for (const operation of [store.load('wrong-type-id'), store.save('wrong-type-id', update({ set: new Map([['a', '1']]) }))]) {
    const error = await operation.then(() => null, (error: Error & { code?: string }) => error)
    t.equal(error?.code, 'FST_SESSION_STORE_UNAVAILABLE')
    t.match(error?.message, /WRONGTYPE/)
    t.notMatch(error?.message, /wrong-type-id/, 'the message does not name the session')
    t.equal((error as { command?: unknown } | null)?.command, undefined, 'no command arguments attached')
  }
  t.equal(await redis.get(prefix + 'wrong-type-id'), 'a string')
})

t.test('error messages never carry the session ID or key', async (t) => {
  const client = connect(t, server)
  await client.quit()
  // ioredis says "Connection is closed.": an ID and a key that appear in that text show the redaction.
  const store = new RedisStore({ client, prefix: () => 'Connection' })
  await t.rejects(store.load('closed'), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /RedisStore load: <key> is <id>\./ })
  await t.rejects(store.destroy('closed'), { message: /RedisStore destroy: <key> is <id>\./ })
  const empty = new RedisStore({ client, prefix: '' })
  await t.rejects(empty.load(''), { message: /RedisStore load: Connection is closed\./ })
})

t.test('a settled operation leaves no timer behind', async (t) => {
  const { store } = makeStore(t)
  // The store's own timers, told apart by where they were made: other timers in the process do not count.
  const live = new Set<NodeJS.Timeout>()
  const realSetTimeout = globalThis.setTimeout
  const realClearTimeout = globalThis.clearTimeout
  globalThis.setTimeout = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if (!/RedisStore\.ts/.test(new Error().stack ?? '')) return realSetTimeout(callback, ms, ...args)
    const timer: NodeJS.Timeout = realSetTimeout((...a: unknown[]) => { live.delete(timer); callback(...a) }, ms, ...args)
    live.add(timer)
    return timer
  }) as typeof setTimeout
  globalThis.clearTimeout = ((timer: NodeJS.Timeout | undefined) => { if (timer !== undefined) live.delete(timer); realClearTimeout(timer) }) as typeof clearTimeout
  t.teardown(() => { globalThis.setTimeout = realSetTimeout; globalThis.clearTimeout = realClearTimeout })
  const pending = store.load('s')
  t.equal(live.size, 1, 'one timer of the store while the operation is pending')
  await pending
  t.equal(live.size, 0, 'cleared once it settled')
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  await store.destroy('s')
  t.equal(live.size, 0)
})

t.test('the default timeout (1000 ms) fails an operation on a server that stopped answering', ownServer, async (t) => {
  const paused = await startRedis(t)
  const store = new RedisStore({ client: connect(t, paused), prefix: uniquePrefix() })
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  paused.pause()
  t.teardown(() => { paused.resume() })
  await t.rejects(store.load('s'), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /no reply from Redis within 1000 ms/ })
  paused.resume()
  t.same((await store.load('s'))?.data, new Map([['a', '1']]), 'it answers again once resumed')
})

t.test('a client you pass stays open after close(); close() is idempotent', async (t) => {
  const client = connect(t, server)
  const store = new RedisStore({ client })
  await store.close()
  await store.close()
  t.equal(await client.ping(), 'PONG')
})

t.test('{ url }: the store opens its own connection and quits it on close()', async (t) => {
  const name = 'lazy' + uniquePrefix().replace(/\W/g, '')
  const prefix = uniquePrefix()
  cleanUp(t, server, prefix)
  const store = new RedisStore({ url: `${server.url}?connectionName=${name}`, prefix })
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  t.same([...(await store.load('s'))?.data ?? []], [['a', '1']])
  t.match(await redis.client('LIST'), `name=${name} `)
  await store.close()
  await store.close()
  t.notMatch(await redis.client('LIST'), `name=${name} `, 'the connection is gone')
  await t.rejects(store.load('s'), { code: 'FST_SESSION_STORE_UNAVAILABLE' }, 'and the store no longer answers')
})

t.test('invalid options throw FST_SESSION_INVALID_OPTION naming the option', async (t) => {
  const client = redis
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /options must be an object/],
    [null, /options must be an object/],
    [{}, /needs `client`.*or `url`/],
    [{ client, url: server.url }, /`client` or `url`, not both/],
    [{ client: {} }, /`client` must be an ioredis Redis or Cluster/],
    [{ client: null }, /`client` must be an ioredis Redis or Cluster/],
    [{ url: '' }, /needs `client`.*or `url`/],
    [{ url: 6379 }, /needs `client`.*or `url`/],
    [{ client, prefix: 5 }, /`prefix` must be a string or a function/],
    [{ client, gcTtl: '60' }, /`gcTtl` must be a positive number of seconds, got 60/],
    [{ client, gcTtl: 0 }, /`gcTtl`.*got 0/],
    [{ client, gcTtl: -1 }, /`gcTtl`.*got -1/],
    [{ client, gcTtl: Number.NaN }, /`gcTtl`.*got NaN/],
    [{ client, gcTtl: Number.POSITIVE_INFINITY }, /`gcTtl`.*got Infinity/],
    [{ client, timeout: '100' }, /`timeout` must be a positive number of milliseconds.*got 100/],
    [{ client, timeout: 0 }, /`timeout`.*got 0/],
    [{ client, timeout: Number.NaN }, /`timeout`.*got NaN/],
    [{ client, timeout: 2 ** 31 }, /`timeout`.*up to 2147483647, got 2147483648/]
  ]
  for (const [options, message] of cases) {
    t.throws(() => new RedisStore(options as RedisStoreOptions), { code: 'FST_SESSION_INVALID_OPTION', message }, String(message))
  }
})
