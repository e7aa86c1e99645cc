import Fastify from 'fastify'
import t from 'tap'
import plugin, { RedisStore } from '../lib/index.ts'
import { CONFORMANCE_SECRET, sessionCookie, storeConformanceSuite } from '../lib/conformance.ts'
import { cleanUp, connect, startRedis, uniquePrefix } from './fixtures/redis.ts'

const server = await startRedis(t)
const client = connect(t, server)
const prefix = uniquePrefix()
cleanUp(t, server, prefix)

// A fresh key space per case: the suite reuses fixed IDs.
for (const c of storeConformanceSuite({ createStore: () => new RedisStore({ client, prefix: prefix + uniquePrefix() }) })) {
  t.test(c.name, c.run)
}

t.test('the suite also passes through a connection the store opens from { url }', async (t) => {
  for (const c of storeConformanceSuite({
    createStore: () => new RedisStore({ url: server.url, prefix: prefix + uniquePrefix() }),
    closeStore: (store) => (store as RedisStore).close()
  })) {
    await t.test(c.name, c.run)
  }
})
