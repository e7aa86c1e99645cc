import t from 'tap'
import { Redis } from 'ioredis'
import { MemoryStore, RedisStore } from '../lib/index.ts'
import { spawnRedis, uniquePrefix } from './fixtures/redis.ts'
import { connectCluster, startRedisCluster } from './fixtures/redis-cluster.ts'
import { userSessionCases } from './fixtures/user-sessions.ts'

userSessionCases(t, 'MemoryStore', (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  return store
})

t.test('RedisStore, single node', async (t) => {
  const { process: server } = await spawnRedis(t)
  const client = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { client.disconnect() })
  userSessionCases(t, 'RedisStore', () => new RedisStore({ client, prefix: uniquePrefix() }))
})

t.test('RedisStore, 3-master cluster', async (t) => {
  const client = connectCluster(t, await startRedisCluster(t))
  userSessionCases(t, 'RedisStore Cluster', () => new RedisStore({ client, prefix: uniquePrefix() }))
})
