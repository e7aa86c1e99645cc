import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { CookieStore, type FastifyLazySessionOptions } from '../lib/index.ts'
import { build, SECRET, sessionCookie } from './fixtures/app.ts'
import { sealRaw, sealRawV2 } from './fixtures/cookie-seal.ts'

// Issue 13, findings 7 and 8: sealed cookies use 192-bit random nonces (XChaCha20-Poly1305, format 2), cookies
// sealed in format 1 still open and are re-sealed, and a value sealed for one cookie name or context never opens
// under another.

const ID = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4'

function store (cookieName = 'session', options: ConstructorParameters<typeof CookieStore>[0] = {}): CookieStore {
  const s = new CookieStore(options)
  s.useSecrets([SECRET], cookieName)
  return s
}

function record (): { data: Map<string, string>, createdAt: number, lastAccessAt: number, expiresAt: number } {
  const now = Date.now()
  return { data: new Map([['user', '"ada"']]), createdAt: now, lastAccessAt: now, expiresAt: now + 60_000 }
}

async function app (t: Test, options: Partial<FastifyLazySessionOptions>): Promise<FastifyInstance> {
  const fastify = await build(options, (app) => {
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

t.test('format 2: version byte 2, a 24-byte nonce and a 16-byte tag; no two seals share a nonce (finding 7)', async (t) => {
  const s = store()
  const input = record()
  const plaintext = Buffer.byteLength(JSON.stringify([ID, input.createdAt, input.lastAccessAt, input.expiresAt, null, null, null, 'user', '"ada"']))
  const nonces = new Set<string>()
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.from(s.seal(ID, input), 'base64url')
    if (bytes[0] !== 2 || bytes.length !== 1 + 24 + plaintext + 16) t.fail(`unexpected layout: ${bytes.length} bytes, version ${String(bytes[0])}`)
    nonces.add(bytes.subarray(1, 25).toString('hex'))
  }
  t.equal(nonces.size, 2000, 'every seal has its own nonce, cut from a refilled random pool')
  t.equal(store().open(sealRawV2(SECRET, JSON.stringify([ID, 1, Date.now(), null, null, null, null, 'k', '"v"'])))?.record.data.get('k'), '"v"',
    'the fixture pins the format-2 key derivation and additional data')
})

t.test('a format-1 (AES-256-GCM) cookie still opens, as stale, and the plugin re-seals it in format 2', async (t) => {
  const now = Date.now()
  const v1 = sealRaw(SECRET, JSON.stringify([ID, now - 1000, now - 1000, null, 'user', '"ada"']))
  const opened = store().open(v1)
  t.equal(opened?.id, ID)
  t.equal(opened?.stale, true, 'stale: re-sealed in this response')
  t.same([...opened?.record.data ?? []], [['user', '"ada"']])

  const fastify = await app(t, { store: new CookieStore(), cookie: { name: 'session' } })
  const response = await fastify.inject({ url: '/get', headers: { cookie: `session=${v1}` } })
  t.same(response.json(), { reason: 'loaded', data: { user: 'ada' } })
  const resealed = sessionCookie(response, 'session')?.value as string
  t.equal(Buffer.from(resealed, 'base64url')[0], 2, 'the response carries the session in format 2')
  t.same((await fastify.inject({ url: '/get', headers: { cookie: `session=${resealed}` } })).json().data, { user: 'ada' })
})

t.test('a value sealed for one cookie name never opens under another (finding 8)', async (t) => {
  const value = store('shop_sess').seal(ID, record())
  t.equal(store('shop_sess').open(value)?.id, ID)
  t.equal(store('bo_sess').open(value), null)
  t.equal(store('shop_sess', { context: 'x' }).open(value), null, 'nor under another context')

  // Through the plugin: app A names its cookie shop_sess, app B bo_sess, both with the same secret.
  const shop = await app(t, { store: new CookieStore(), cookie: { name: 'shop_sess' } })
  const backOffice = await app(t, { store: new CookieStore(), cookie: { name: 'bo_sess' } })
  const sealed = sessionCookie(await shop.inject({ method: 'POST', url: '/set', payload: { role: 'customer' } }), 'shop_sess')?.value as string
  t.same((await shop.inject({ url: '/get', headers: { cookie: `shop_sess=${sealed}` } })).json(), { reason: 'loaded', data: { role: 'customer' } })
  t.same((await backOffice.inject({ url: '/get', headers: { cookie: `bo_sess=${sealed}` } })).json(), { reason: 'invalid', data: {} })
})

t.test('a value sealed under one context never opens under another, even with the same secret and cookie name (finding 8)', async (t) => {
  const a = store('session', { context: 'app-a' })
  const value = a.seal(ID, record())
  t.equal(a.open(value)?.id, ID)
  t.equal(store('session', { context: 'app-b' }).open(value), null)
  t.equal(store('session').open(value), null, 'the default context is another context')
  t.equal(store('session', { context: 'app-a' }).open(value)?.id, ID, 'a new store with the same context opens it')
  t.equal(store('session', { context: '' }).open(store('session', { context: 'x' }).seal(ID, record())), null, 'nor the other way round')

  const shopA = await app(t, { store: new CookieStore({ context: 'shop-a' }), cookie: { name: 'session' } })
  const shopB = await app(t, { store: new CookieStore({ context: 'shop-b' }), cookie: { name: 'session' } })
  const sealed = sessionCookie(await shopA.inject({ method: 'POST', url: '/set', payload: { role: 'admin' } }), 'session')?.value as string
  t.same((await shopB.inject({ url: '/get', headers: { cookie: `session=${sealed}` } })).json(), { reason: 'invalid', data: {} })
})

t.test('maxAge, user and device travel inside the sealed payload', async (t) => {
  const input = { ...record(), maxAge: 30 * 86_400_000, user: 'ada', device: { ip: '192.0.2.1', userAgent: 'Test/1.0', label: 'phone' } }
  const opened = store().open(store().seal(ID, input))
  t.same(opened?.record, input)
  const s = store()
  const value = s.seal(ID, input)
  s.open(value)
  const cached = s.open(value)
  t.same(cached?.record, input, 'a remembered open returns them too')
  if (cached?.record.device != null) cached.record.device.ip = 'changed'
  t.same(s.open(value)?.record.device, input.device, 'each open gets its own device object')
})

t.test('useSecrets binds the store to one cookie name; options are checked', async (t) => {
  const s = store('shop_sess')
  t.doesNotThrow(() => { s.useSecrets([SECRET], 'shop_sess') }, 'the same name again is fine')
  t.throws(() => { s.useSecrets([SECRET], 'other') }, { code: 'FST_SESSION_INVALID_OPTION', message: /another cookie name/ })
  t.throws(() => { new CookieStore().useSecrets([SECRET], '') }, { code: 'FST_SESSION_INVALID_OPTION', message: /cookie name/ })
  t.throws(() => new CookieStore({ context: 1 as unknown as string }), { code: 'FST_SESSION_INVALID_OPTION', message: /context/ })
})
