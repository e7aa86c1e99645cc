// @fastify/session with connect-redis 9 (which takes a node-redis `redis` client, per its README).
// Same options as fsession-memory.
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { RedisStore } from 'connect-redis'
import { createClient } from 'redis'
import { eagerRoutes } from './routes.mjs'

export async function setup (app, { secret, redisUrl }) {
  const client = createClient({ url: redisUrl })
  client.on('error', (err) => console.error('redis client:', err.message))
  await client.connect()
  app.addHook('onClose', async () => { await client.quit() })
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret,
    store: new RedisStore({ client, prefix: 'fsess:' }),
    cookie: { secure: false },
    rolling: false,
    saveUninitialized: false
  })
  return eagerRoutes()
}
