import { RedisStore as ConnectRedisStore } from 'connect-redis'
import Fastify from 'fastify'
import { createClient } from 'redis'
import t from 'tap'
import plugin from '../lib/index.ts'
import { CONFORMANCE_SECRET } from '../lib/conformance.ts'
import { connectStore } from '../lib/stores/connectStore.ts'
import { connectConformance } from './fixtures/connect.ts'
import { ownServer, startRedis, uniquePrefix, within } from './fixtures/redis.ts'

const server = await startRedis(t)
const client = createClient({ url: server.url })
client.on('error', () => {})
await client.connect()
t.teardown(() => client.destroy())

// connect-redis 9 on node-redis, called callback style (its methods declare the callback).
connectConformance(t, { createStore: () => connectStore(new ConnectRedisStore({ client, prefix: uniquePrefix() })) })

t.test('the plugin\'s deadline becomes the Redis TTL; without one, gcTtl', async (t) => {
  for (const [options, expected] of [[{ lifetime: 60 }, 60], [{ idleTimeout: 90 }, 90], [{}, 500]] as const) {
    const prefix = uniquePrefix()
    const app = Fastify()
    await app.register(plugin, { secret: CONFORMANCE_SECRET, ...options, store: connectStore(new ConnectRedisStore({ client, prefix }), { gcTtl: 500 }) })
    app.post('/login', async (request) => { (await request.loadSession()).set('user', 'ada'); return 'ok' })
    await app.inject({ method: 'POST', url: '/login' })
    const keys = await client.keys(prefix + '*')
    t.equal(keys.length, 1)
    const ttl = await client.ttl(keys[0] as string)
    t.ok(ttl > expected - 5 && ttl <= expected, `${JSON.stringify(options)}: TTL ${ttl}`)
    const sess = JSON.parse(await client.get(keys[0] as string) as string)
    t.equal(sess.user, '"ada"', 'values are kept as the serialized strings the plugin gives')
    await app.close()
  }
})

t.test('per-user index through connect-redis all() (an array of sessions)', async (t) => {
  const store = connectStore(new ConnectRedisStore({ client, prefix: uniquePrefix() }))
  const now = Date.now()
  for (const [key, handle, user] of [['k1', 'h1', 'ada'], ['k2', 'h2', 'ada'], ['k3', 'h3', 'bob']] as const) {
    await store.save(key, { create: true, replace: true, set: new Map([['a', '1']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: now + 60_000, ttl: 60, handle, user })
  }
  t.same((await store.list?.('ada'))?.map((info) => info.handle).sort(), ['h1', 'h2'])
  t.equal(await store.revoke?.('ada', 'h2'), true)
  t.equal(await store.load('k2'), null)
  t.equal(await store.revokeAll?.('ada'), 1)
  t.same(await store.list?.('ada'), [])
  t.same((await store.list?.('bob'))?.map((info) => info.handle), ['h3'])
})

t.test('a Redis that stops answering fails the request with 503 after `timeout`, never hangs it', ownServer, async (t) => {
  const app = Fastify()
  await app.register(plugin, { secret: CONFORMANCE_SECRET, store: connectStore(new ConnectRedisStore({ client, prefix: uniquePrefix() }), { timeout: 300 }) })
  app.post('/login', async (request) => { (await request.loadSession()).set('user', 'ada'); return 'ok' })
  app.get('/me', async (request) => ({ user: (await request.loadSession()).get('user') ?? null }))
  t.teardown(() => app.close())
  const login = await app.inject({ method: 'POST', url: '/login' })
  const cookie = (login.headers['set-cookie'] as string).split(';', 1)[0] as string
  server.pause()
  try {
    const response = await within(10_000, app.inject({ url: '/me', headers: { cookie } }))
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  } finally {
    server.resume()
  }
  t.same((await app.inject({ url: '/me', headers: { cookie } })).json(), { user: 'ada' }, 'served again once Redis answers')
})
