import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { CookieStore, type FastifyLazySessionOptions } from '../lib/index.ts'
import { build, fakeClock, SECRET, sessionCookie } from './fixtures/app.ts'

// Issue 13, finding 9: with no deadline from the plugin, a sealed session is refused `gcTtl` seconds
// (default one day) after its last write, as expired: a copied cookie does not open ten years later.


async function app (t: Test, options: Partial<FastifyLazySessionOptions>): Promise<FastifyInstance> {
  const fastify = await build({ cookie: { name: 'session' }, ...options }, (app) => {
    app.get('/get', async (request) => {
      const session = await request.loadSession()
      return { reason: session.reason, data: session.data() }
    })
    app.post('/set', async (request) => {
      const session = await request.loadSession()
      for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) session.set(key, value)
      return 'ok'
    })
  })
  t.teardown(() => fastify.close())
  return fastify
}

async function set (fastify: FastifyInstance, payload: Record<string, unknown>, cookie?: string): Promise<string> {
  const response = await fastify.inject({ method: 'POST', url: '/set', payload, headers: cookie === undefined ? {} : { cookie } })
  return (sessionCookie(response, 'session') as { header: string }).header
}

async function get (fastify: FastifyInstance, cookie: string): Promise<{ reason: string, data: Record<string, unknown> }> {
  return (await fastify.inject({ url: '/get', headers: { cookie } })).json()
}

t.test('defaults: a session without lifetime is refused as expired one day after its last write (finding 9)', async (t) => {
  const clock = fakeClock(t)
  const fastify = await app(t, { store: new CookieStore() })
  const cookie = await set(fastify, { user: 'ada' })
  clock.advance(86_400 - 1)
  t.same(await get(fastify, cookie), { reason: 'loaded', data: { user: 'ada' } }, 'a second before the day is over')
  clock.advance(1)
  t.same(await get(fastify, cookie), { reason: 'expired', data: {} }, 'a day after its last write')
})

t.test('gcTtl counts from the last write: a session written again lives on', async (t) => {
  const clock = fakeClock(t)
  const fastify = await app(t, { store: new CookieStore({ gcTtl: 60 }) })
  const first = await set(fastify, { n: 1 })
  clock.advance(50)
  const second = await set(fastify, { n: 2 }, first)
  clock.advance(50)
  t.same(await get(fastify, second), { reason: 'loaded', data: { n: 2 } })
  t.same(await get(fastify, first), { reason: 'expired', data: {} }, 'the older copy expired on its own time')
})

t.test('a remembered open is bounded too', async (t) => {
  const clock = fakeClock(t)
  const store = new CookieStore({ gcTtl: 60 })
  store.useSecrets([SECRET], 'session')
  const now = Date.now()
  const value = store.seal('Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4', { data: new Map([['a', '1']]), createdAt: now, lastAccessAt: now, expiresAt: null })
  t.equal(store.open(value)?.record.expiresAt, null, 'within gcTtl: still a browser-session record')
  clock.advance(60)
  t.equal(store.open(value)?.record.expiresAt, now + 60_000, 'past gcTtl: opened with the bound as its expiry')
})

t.test('a deadline from the plugin (lifetime) is not cut by gcTtl', async (t) => {
  const clock = fakeClock(t)
  const fastify = await app(t, { store: new CookieStore({ gcTtl: 60 }), lifetime: 3600 })
  const cookie = await set(fastify, { user: 'ada' })
  clock.advance(1800)
  t.same(await get(fastify, cookie), { reason: 'loaded', data: { user: 'ada' } })
  clock.advance(1800)
  t.same(await get(fastify, cookie), { reason: 'expired', data: {} }, 'the lifetime still ends it')
})

t.test('gcTtl must be a positive number', async (t) => {
  for (const gcTtl of [0, -1, Number.NaN, '60']) {
    t.throws(() => new CookieStore({ gcTtl: gcTtl as number }), { code: 'FST_SESSION_INVALID_OPTION', message: /gcTtl/ }, String(gcTtl))
  }
})
