// @mgcrea/fastify-session (+ @fastify/cookie) with its default in-memory store and HMAC-signed IDs.
// `saveUninitialized: false` matches fastify-lazy-session (nothing stored for an empty new session).
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@mgcrea/fastify-session'
import { eagerRoutes } from './routes.mjs'

export async function setup (app, { secret }) {
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret, cookie: { secure: false, httpOnly: true, sameSite: 'lax' }, saveUninitialized: false })
  return eagerRoutes()
}
