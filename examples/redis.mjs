// RedisStore with a client you own: REDIS_URL=redis://127.0.0.1:6379 SESSION_SECRET=… node examples/redis.mjs
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import session, { RedisStore } from 'fastify-lazy-session'

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const app = Fastify({ logger: true })
// The store never quits a client it was given: without this hook the open connection keeps the process alive after app.close().
app.addHook('onClose', async () => { await redis.quit() })

await app.register(session, {
  secret: process.env.SESSION_SECRET,
  store: new RedisStore({ client: redis, prefix: 'myapp:sess:' }),
  lifetime: 14 * 24 * 3600,
  rolling: true,
  idleTimeout: 30 * 60,
  absoluteTimeout: 30 * 24 * 3600
})

app.get('/', async (request) => {
  const session = await request.loadSession()
  session.set('visits', (session.get('visits') ?? 0) + 1)
  return { visits: session.get('visits') }
})

// On SIGINT/SIGTERM: stop accepting requests, run the onClose hooks (the Redis quit above), and let the process end by itself.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { app.close() })

await app.listen({ port: Number(process.env.PORT ?? 3000) })
