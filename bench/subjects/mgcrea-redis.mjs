// @mgcrea/fastify-session with @mgcrea/fastify-session-redis-store (ioredis), as its README registers it.
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@mgcrea/fastify-session'
import RedisStore from '@mgcrea/fastify-session-redis-store'
import { Redis } from 'ioredis'
import { eagerRoutes } from './routes.mjs'

export async function setup (app, { secret, redisUrl }) {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  app.addHook('onClose', async () => { await client.quit() })
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret,
    store: new RedisStore({ client, prefix: 'mgcrea:', ttl: 86400 }),
    cookie: { secure: false, httpOnly: true, sameSite: 'lax' },
    saveUninitialized: false
  })
  return eagerRoutes()
}
