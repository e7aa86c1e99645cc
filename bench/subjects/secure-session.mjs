// @fastify/secure-session: the whole session in a libsodium secretbox cookie (registers
// @fastify/cookie itself). A 32-byte key, as its README recommends over secret+salt (whose
// key derivation runs once at startup and does not affect the measurement).
import fastifySecureSession from '@fastify/secure-session'
import { createHash } from 'node:crypto'
import { eagerRoutes } from './routes.mjs'

export async function setup (app, { secret }) {
  await app.register(fastifySecureSession, {
    key: createHash('sha256').update(secret).digest(),
    cookie: { path: '/', secure: false, httpOnly: true, sameSite: 'lax' }
  })
  return eagerRoutes()
}
