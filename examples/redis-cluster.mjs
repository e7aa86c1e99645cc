// RedisStore on a Redis Cluster: REDIS_CLUSTER_NODES=10.0.0.1:6379,10.0.0.2:6379 SESSION_SECRET=… node examples/redis-cluster.mjs
import Fastify from 'fastify'
import { Cluster } from 'ioredis'
import session, { RedisStore } from 'fastify-lazy-session'

const nodes = (process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7000').split(',').map((hostPort) => {
  const [host, port] = hostPort.split(':')
  return { host, port: Number(port) }
})
// One session is one key, so every store call touches one hash slot; sessions spread over all masters.
const cluster = new Cluster(nodes)
const app = Fastify({ logger: true })
app.addHook('onClose', async () => { await cluster.quit() })

await app.register(session, {
  secret: process.env.SESSION_SECRET,
  store: new RedisStore({ client: cluster, prefix: 'myapp:sess:' }), // no {hash tag} in the prefix: it would put every session on one node
  lifetime: 14 * 24 * 3600,
  rolling: true
})

app.get('/', async (request) => {
  const session = await request.loadSession()
  session.set('visits', (session.get('visits') ?? 0) + 1)
  return { visits: session.get('visits') }
})

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { app.close() })

await app.listen({ port: Number(process.env.PORT ?? 3000) })
