// @fastify/session (+ @fastify/cookie) with its default in-memory store, as its README registers it.
// `rolling: false, saveUninitialized: false` match fastify-lazy-session's semantics (no store write and
// no Set-Cookie for an unchanged session, nothing stored for an empty new one); with the default
// `rolling: true` it would save the session on every request.
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { eagerRoutes } from './routes.mjs'

export async function setup (app, { secret }) {
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret, cookie: { secure: false }, rolling: false, saveUninitialized: false })
  return eagerRoutes()
}
