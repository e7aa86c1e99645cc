// Switching from @fastify/session on connect-redis: the sessions it wrote move into ours, kept in the same Redis.
import { RedisStore as ConnectRedisStore } from 'connect-redis'
import Fastify from 'fastify'
import { createClient } from 'redis'
import t from 'tap'
import plugin from '../lib/index.ts'
import { CONFORMANCE_SECRET } from '../lib/conformance.ts'
import { connectStore } from '../lib/stores/connectStore.ts'
import { OLD_SECRET, oldApp, setCookies, signInOld, type OldStore } from './fixtures/migrate.ts'
import { startRedis } from './fixtures/redis.ts'

const server = await startRedis(t)
const client = createClient({ url: server.url })
client.on('error', () => {})
await client.connect()
t.teardown(() => client.destroy())

t.test('signed in with @fastify/session on connect-redis, still signed in after the switch, exactly once', async (t) => {
  const oldStore = new ConnectRedisStore({ client, prefix: 'old:' }) as unknown as OldStore
  const before = await oldApp(oldStore, { cookie: { secure: false, maxAge: 3_600_000 } })
  const ada = await signInOld(before, { user: 'ada', roles: ['admin'] })
  const bob = await signInOld(before, { user: 'bob' })
  await before.close()
  t.equal((await client.keys('old:*')).length, 2)

  const app = Fastify()
  await app.register(plugin, {
    secret: CONFORMANCE_SECRET,
    lifetime: 3600,
    store: connectStore(new ConnectRedisStore({ client, prefix: 'new:' })),
    migrateFrom: { cookieName: 'sessionId', secret: OLD_SECRET, store: oldStore }
  })
  app.get('/me', async (request) => {
    const session = await request.loadSession()
    return { user: session.get('user') ?? null, roles: session.get('roles') ?? null }
  })
  t.teardown(() => app.close())

  // Two tabs of ada's at once, and bob.
  const [first, second, other] = await Promise.all([ada, ada, bob].map((cookie) => app.inject({ url: '/me', headers: { cookie } })))
  t.same(first?.json(), { user: 'ada', roles: ['admin'] })
  t.same(second?.json(), { user: 'ada', roles: ['admin'] })
  t.same(other?.json(), { user: 'bob', roles: null })
  const adaCookie = setCookies(first as never).get('__Host-session')?.value as string
  t.equal(setCookies(second as never).get('__Host-session')?.value, adaCookie, 'one new session for ada')
  t.match(setCookies(first as never).get('__Host-session')?.line, /Max-Age=3600/)
  t.equal(setCookies(first as never).get('sessionId')?.value, '', 'the old cookie is cleared')
  t.same(await client.keys('old:*'), [], 'the old sessions are gone from Redis')
  t.equal((await client.keys('new:*')).length, 2, 'one session of ours per user')

  t.same((await app.inject({ url: '/me', headers: { cookie: `__Host-session=${adaCookie}` } })).json(), { user: 'ada', roles: ['admin'] })
  t.same((await app.inject({ url: '/me', headers: { cookie: ada } })).json(), { user: null, roles: null }, 'the old cookie no longer works')
})
