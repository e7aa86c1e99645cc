// fastify-lazy-session with its RedisStore, from the build in dist/ (`npm run build`).
// Routes load the session explicitly; /none never does.
import { Redis } from 'ioredis'
import session, { RedisStore } from '../../dist/index.js'
import { lazyRoutes } from './routes.mjs'

export async function setup (app, { secret, redisUrl }) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  app.addHook('onClose', async () => { await redis.quit() })
  await app.register(session, { secret, store: new RedisStore({ client: redis, prefix: 'lazy:' }), cookie: { secure: false } })
  return lazyRoutes()
}
