import t from 'tap'
import { RedisStore } from '../lib/stores/RedisStore.ts'
import { connect, delay, ownServer, startRedis, uniquePrefix, update, within } from './fixtures/redis.ts'

/** Retries `operation` until it succeeds (Redis is coming back), failing after `ms`. */
async function eventually<T> (ms: number, operation: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms
  while (true) {
    try {
      return await operation()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await delay(100)
    }
  }
}

const session = (value: string) => update({ create: true, replace: true, set: new Map([['value', value]]) })

t.test('a store created while Redis is down does not throw, fails each operation in time, and works once Redis is up', ownServer, async (t) => {
  const server = await startRedis(t)
  await server.kill()
  const store = new RedisStore({ url: server.url, timeout: 300 })
  t.teardown(() => store.close())
  await within(3000, t.rejects(store.load('id'), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /RedisStore load: no reply from Redis within 300 ms/ }))
  await within(3000, t.rejects(store.save('id', session('a')), { code: 'FST_SESSION_STORE_UNAVAILABLE' }))
  await server.restart()
  await eventually(10_000, () => store.save('id', session('a')))
  t.same([...(await store.load('id'))?.data ?? []], [['value', 'a']])
})

t.test('close() returns within the timeout while Redis is down', ownServer, async (t) => {
  const server = await startRedis(t)
  const store = new RedisStore({ url: server.url, timeout: 300 })
  await store.load('id')
  await server.kill()
  // Queued behind a command that cannot be sent, QUIT would wait for Redis to come back.
  await t.rejects(store.load('id'))
  await within(3000, store.close())
  await server.restart()
  await delay(500)
  await t.rejects(store.load('id'), { code: 'FST_SESSION_STORE_UNAVAILABLE' }, 'closed for good: it does not reconnect')
})

t.test('the default timeout is one second: a paused Redis fails the operation with it', ownServer, async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server, { maxRetriesPerRequest: null, enableOfflineQueue: true })
  const store = new RedisStore({ client, prefix: uniquePrefix() })
  await store.load('warm-up')
  server.pause()
  t.teardown(() => server.resume())
  await within(5000, t.rejects(store.load('paused'), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /no reply from Redis within 1000 ms/ }))
})

t.test('Redis paused: each operation fails at its own deadline, not at an earlier one\'s', ownServer, async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server, { maxRetriesPerRequest: null, enableOfflineQueue: true })
  const store = new RedisStore({ client, prefix: uniquePrefix(), timeout: 400 })
  await store.load('warm-up')
  server.pause()
  t.teardown(() => server.resume())
  let laterSettled = false
  const first = store.load('first')
  await delay(250)
  const later = store.load('later').finally(() => { laterSettled = true })
  await t.rejects(first, { code: 'FST_SESSION_STORE_UNAVAILABLE' })
  t.equal(laterSettled, false, 'the later operation is still waiting when the first one times out')
  await within(3000, t.rejects(later, { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /within 400 ms/ }))
})

t.test('Redis paused (SIGSTOP) mid-traffic: every operation fails within the timeout; after SIGCONT all succeed, data intact', ownServer, async (t) => {
  const server = await startRedis(t)
  // The client's worst case: retry forever and queue while disconnected. The store's timeout still bounds each call.
  const client = connect(t, server, { maxRetriesPerRequest: null, enableOfflineQueue: true })
  const store = new RedisStore({ client, prefix: uniquePrefix(), timeout: 500 })
  const ids = Array.from({ length: 20 }, (_, i) => `session-${i}`)
  await Promise.all(ids.map((id) => store.save(id, session(id))))

  const traffic = ids.map((id, i) => i % 3 === 0 ? store.load(id) : i % 3 === 1 ? store.save(id, update({ set: new Map([['n', String(i)]]) })) : store.save(id, update()))
  server.pause()
  t.teardown(() => server.resume())
  // Whatever was already answered stays answered; nothing hangs.
  await within(3000, Promise.allSettled(traffic))

  const during = [
    store.load(ids[0] as string),
    store.save(ids[1] as string, update({ set: new Map([['x', '1']]) })),
    store.save('brand-new', session('new')),
    store.destroy(ids[2] as string)
  ]
  const results = await within(3000, Promise.allSettled(during))
  for (const result of results) {
    t.equal(result.status, 'rejected')
    const error = (result as PromiseRejectedResult).reason as Error & { code: string }
    t.equal(error.code, 'FST_SESSION_STORE_UNAVAILABLE')
    t.match(error.message, /no reply from Redis within 500 ms/)
    t.notMatch(error.message, /session-|brand-new/, 'no session ID in the message')
  }

  server.resume()
  const records = await within(5000, Promise.all(ids.map((id) => store.load(id))))
  for (const [i, record] of records.entries()) {
    if (i === 2) continue // its destroy was sent before the timeout and runs once Redis resumes
    t.equal(record?.data.get('value'), ids[i], `${ids[i] as string} intact`)
  }
  t.equal(await store.save('after', session('after')), true)
  t.equal((await store.load('after'))?.data.get('value'), 'after')
})

t.test('Redis killed (SIGKILL) and restarted with appendfsync always: no saved session is lost, the same store recovers', ownServer, async (t) => {
  const server = await startRedis(t, ['--appendonly', 'yes', '--appendfsync', 'always'])
  const client = connect(t, server)
  const prefix = uniquePrefix()
  const store = new RedisStore({ client, prefix, timeout: 500 })
  const ids = Array.from({ length: 50 }, (_, i) => `session-${i}`)
  for (const id of ids) await store.save(id, session(id))
  await store.save('session-0', update({ set: new Map([['changed', 'yes']]) }))

  await server.kill()
  await within(3000, t.rejects(store.load('session-0'), { code: 'FST_SESSION_STORE_UNAVAILABLE' }, 'down: fails in time'))
  await server.restart()

  const first = await eventually(10_000, () => store.load('session-0'))
  t.same(first?.data, new Map([['value', 'session-0'], ['changed', 'yes']]))
  for (const id of ids) {
    t.equal((await store.load(id))?.data.get('value'), id, `${id} survived`)
  }
  t.ok(await client.pttl(prefix + 'session-1') > 0, 'TTLs survive too')
  t.equal(await store.save('after-restart', session('x')), true)
})
