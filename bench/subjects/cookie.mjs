// Fastify + @fastify/cookie: every request's Cookie header is parsed (onRequest), routes just reply.
import fastifyCookie from '@fastify/cookie'

export async function setup (app) {
  await app.register(fastifyCookie)
  return {
    none: async () => ({ ok: true }),
    read: async () => ({ n: 1 }),
    write: async () => ({ n: 1 })
  }
}
