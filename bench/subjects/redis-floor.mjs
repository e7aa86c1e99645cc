// The "Redis floor": the physical limit of a Redis-backed session. @fastify/cookie + ioredis, the
// cookie carries the raw session ID (no signature, no crypto), one GET per read, GET then SET per
// write, JSON for the value. /none never touches Redis.
import fastifyCookie from '@fastify/cookie'
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'

const COOKIE = 'sid'
const TTL = 86400
const key = (id) => 'floor:' + id

export async function setup (app, { redisUrl }) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  app.addHook('onClose', async () => { await redis.quit() })
  await app.register(fastifyCookie)

  async function load (request) {
    const id = request.cookies[COOKIE]
    if (!id) return null
    const raw = await redis.get(key(id))
    return raw === null ? null : { id, data: JSON.parse(raw) }
  }

  return {
    none: async () => ({ ok: true }),
    read: async (request) => {
      const s = await load(request)
      return { n: s?.data.n ?? null }
    },
    write: async (request, reply) => {
      let s = await load(request)
      if (s === null) {
        s = { id: randomBytes(24).toString('base64url'), data: {} }
        reply.setCookie(COOKIE, s.id, { path: '/', httpOnly: true, sameSite: 'lax' })
      }
      const n = (s.data.n ?? 0) + 1
      s.data.n = n
      await redis.set(key(s.id), JSON.stringify(s.data), 'EX', TTL)
      return { n }
    }
  }
}
