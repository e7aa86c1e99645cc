import { RedisStore as ConnectRedisStore } from 'connect-redis'
import { createClient } from 'redis'
import t from 'tap'
import { storeConformanceSuite } from '../lib/conformance.ts'
import { connectStore } from '../lib/stores/connectStore.ts'
import { startRedis, uniquePrefix } from './fixtures/redis.ts'

const server = await startRedis(t)
const client = createClient({ url: server.url })
client.on('error', () => {})
await client.connect()
t.teardown(() => client.destroy())

for (const c of storeConformanceSuite({ createStore: () => connectStore(new ConnectRedisStore({ client, prefix: uniquePrefix() })) })) {
  t.test(c.name, c.run)
}
