import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { CookieStore, type FastifyLazySessionOptions } from '../lib/index.ts'
import { storeConformanceSuite } from '../lib/conformance.ts'
import { build, fakeClock, OLD_SECRET, SECRET, sessionCookie } from './fixtures/app.ts'

for (const c of storeConformanceSuite({ createStore: () => new CookieStore(), clientSide: true })) {
  t.test(c.name, c.run)
}

const NEW_SECRET = 'the-newest-secret-after-rotation-32-chars'

/** Routes that drive the session through the query string. */
function routes (app: FastifyInstance): void {
  app.get('/none', async () => 'none')
  app.get('/get', async (request) => {
    const session = await request.loadSession()
    return { id: session.id, reason: session.reason, data: session.data() }
  })
  app.get('/count', async (request) => {
    const session = await request.loadSession()
    session.set('count', ((session.get('count') as number | undefined) ?? 0) + 1)
    return { id: session.id, reason: session.reason, count: session.get('count') }
  })
  app.post('/set', async (request) => {
    const session = await request.loadSession()
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) session.set(key, value)
    return { id: session.id }
  })
  app.post('/destroy', async (request) => {
    await (await request.loadSession()).destroy()
    return 'ok'
  })
  app.post('/big-save', async (request) => {
    const session = await request.loadSession()
    session.set('blob', 'x'.repeat(Number((request.query as { n: string }).n)))
    await session.save()
    return 'saved'
  })
}

async function app (t: Test, options: Partial<FastifyLazySessionOptions> = {}): Promise<FastifyInstance> {
  const fastify = await build({ store: new CookieStore(), ...options }, routes)
  t.teardown(() => fastify.close())
  return fastify
}

/** The `Cookie` header a response sets, or fails the test. */
function cookieOf (response: LightMyRequestResponse): string {
  const cookie = sessionCookie(response)
  if (cookie === undefined || cookie.value === '') throw new Error(`no live session cookie in ${String(response.headers['set-cookie'])}`)
  return cookie.header
}

async function get (fastify: FastifyInstance, cookie: string): Promise<{ response: LightMyRequestResponse, body: { id: string | null, reason: string, data: Record<string, unknown> } }> {
  const response = await fastify.inject({ url: '/get', headers: { cookie } })
  return { response, body: response.json() }
}

/** A store opened with `secrets` alone, to look inside cookies the plugin wrote. */
function opener (secrets: string[]): CookieStore {
  const store = new CookieStore()
  store.useSecrets(secrets, '__Host-session')
  return store
}

function valueOf (cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1)
}

t.test('the session lives in the cookie: a fresh app and store with the same secret load it', async (t) => {
  const first = await app(t)
  let cookie = cookieOf(await first.inject('/count'))
  cookie = cookieOf(await first.inject({ url: '/count', headers: { cookie } }))
  await first.close()

  const second = await app(t)
  const response = await second.inject({ url: '/count', headers: { cookie } })
  t.same(response.json().count, 3, 'no server state: the count came from the cookie')
  t.equal(response.json().reason, 'loaded')
  const { body } = await get(second, cookieOf(response))
  t.same(body.data, { count: 3 })
  t.equal(body.id, opener([SECRET]).open(valueOf(cookieOf(response)))?.id, 'the ID travels inside the sealed payload')
})

t.test('rotation: a cookie sealed under the old first secret is accepted and re-sealed with the new one', async (t) => {
  const before = await app(t, { secret: [OLD_SECRET] })
  const oldCookie = cookieOf(await before.inject({ method: 'POST', url: '/set', payload: { user: 'ada' } }))
  t.ok(opener([OLD_SECRET]).open(valueOf(oldCookie)))

  const rotated = await app(t, { secret: [NEW_SECRET, OLD_SECRET] })
  const { response, body } = await get(rotated, oldCookie)
  t.equal(response.statusCode, 200)
  t.equal(body.reason, 'loaded')
  t.same(body.data, { user: 'ada' })
  const resealed = cookieOf(response)
  const opened = opener([NEW_SECRET]).open(valueOf(resealed))
  t.ok(opened, 'the re-sealed cookie opens with [new] alone')
  t.equal(opened?.stale, false)
  t.equal(opened?.id, body.id, 'same session')
  t.equal(opener([OLD_SECRET]).open(valueOf(resealed)), null, 'and no longer with the old secret')

  t.equal((await get(rotated, resealed)).response.headers['set-cookie'], undefined, 'a current cookie, unchanged: no Set-Cookie')
  t.equal((await rotated.inject({ url: '/none', headers: { cookie: oldCookie } })).headers['set-cookie'], undefined,
    'a route that does not load the session does not re-seal')

  const after = await app(t, { secret: [NEW_SECRET] })
  t.equal((await get(after, resealed)).body.reason, 'loaded', 'once the old secret is dropped the re-sealed cookie still works')
  t.equal((await get(after, oldCookie)).body.reason, 'invalid', '… and a cookie never re-sealed is refused')
})

t.test('fixed lifetime: a kept cookie is refused once the sealed expiry passed', async (t) => {
  const clock = fakeClock(t)
  const fastify = await app(t, { lifetime: 60 })
  const cookie = cookieOf(await fastify.inject('/count'))
  clock.advance(59)
  t.equal((await get(fastify, cookie)).body.reason, 'loaded')
  clock.advance(1)
  const { response, body } = await get(fastify, cookie)
  t.equal(response.statusCode, 200)
  t.equal(body.reason, 'expired')
  t.same(body.data, {})
  t.equal(body.id, null)
})

t.test('rolling lifetime: a newer cookie extends the session, an older copy still expires on its own time', async (t) => {
  const clock = fakeClock(t)
  const fastify = await app(t, { lifetime: 60, rolling: true })
  const first = cookieOf(await fastify.inject('/count'))
  clock.advance(50)
  const rolled = cookieOf((await get(fastify, first)).response)
  clock.advance(20)
  t.equal((await get(fastify, first)).body.reason, 'expired', 'the first cookie: 70 s after it was sealed')
  const { body } = await get(fastify, rolled)
  t.equal(body.reason, 'loaded', 'the rolled cookie: 20 s after it was sealed')
  t.same(body.data, { count: 1 })
})

t.test('idleTimeout: activity re-seals the cookie; a copy kept from before is refused once idle', async (t) => {
  const clock = fakeClock(t)
  const fastify = await app(t, { idleTimeout: 60 })
  const first = cookieOf(await fastify.inject('/count'))
  clock.advance(30)
  const { response } = await get(fastify, first)
  const refreshed = cookieOf(response)
  t.not(valueOf(refreshed), valueOf(first), 'idle refresh re-sends the cookie')
  clock.advance(40)
  t.equal((await get(fastify, first)).body.reason, 'expired', '70 s without activity on the old copy')
  t.equal((await get(fastify, refreshed)).body.reason, 'loaded', '40 s since the last activity')
  clock.advance(61)
  t.equal((await get(fastify, refreshed)).body.reason, 'expired')
})

t.test('absoluteTimeout: even a cookie refreshed a moment ago is refused once the session is that old', async (t) => {
  const clock = fakeClock(t)
  const fastify = await app(t, { lifetime: 3600, rolling: true, absoluteTimeout: 60 })
  let cookie = cookieOf(await fastify.inject('/count'))
  for (let i = 0; i < 5; i++) {
    clock.advance(10)
    const response = await fastify.inject({ url: '/count', headers: { cookie } })
    t.equal(response.json().reason, 'loaded')
    cookie = cookieOf(response)
  }
  clock.advance(10)
  const { body } = await get(fastify, cookie)
  t.equal(body.reason, 'expired')
  t.same(body.data, {})
})

t.test('a tampered or foreign cookie → fresh session, reason "invalid", status 200', async (t) => {
  const fastify = await app(t)
  const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/set', payload: { role: 'user' } }))
  const value = valueOf(cookie)
  const middle = value.length >> 1
  const flipped = value.slice(0, middle) + (value[middle] === 'A' ? 'B' : 'A') + value.slice(middle + 1)

  const foreign = await app(t, { secret: 'a-completely-different-secret-32-chars-long' })
  const foreignCookie = cookieOf(await foreign.inject({ method: 'POST', url: '/set', payload: { role: 'admin' } }))

  const name = '__Host-session='
  for (const bad of [`${name}${flipped}`, `${name}${value.slice(0, -4)}`, `${name}${value}AAAA`, foreignCookie, name, `${name}${Buffer.from(value, 'base64url').toString('base64')}`]) {
    const { response, body } = await get(fastify, bad)
    t.equal(response.statusCode, 200, bad.slice(0, 30))
    t.equal(body.reason, bad === name ? 'new' : 'invalid')
    t.same(body.data, {})
    t.equal(body.id, null)
  }
})

t.test('maxSize: a session too large for one cookie fails with FST_SESSION_TOO_LARGE and sets no cookie', async (t) => {
  const fastify = await app(t, { store: new CookieStore({ maxSize: 1024 }) })
  const small = cookieOf(await fastify.inject({ method: 'POST', url: '/set', payload: { a: 'x'.repeat(100) } }))
  t.ok(small.length <= 1024)

  const big = await fastify.inject({ method: 'POST', url: '/set', payload: { a: 'x'.repeat(2000) } })
  t.equal(big.statusCode, 500)
  t.equal(big.json().code, 'FST_SESSION_TOO_LARGE')
  t.equal(big.headers['set-cookie'], undefined)

  const grown = await fastify.inject({ method: 'POST', url: '/set', payload: { b: 'y'.repeat(2000) }, headers: { cookie: small } })
  t.equal(grown.statusCode, 500)
  t.equal(grown.json().code, 'FST_SESSION_TOO_LARGE')
  t.equal(grown.headers['set-cookie'], undefined, 'the browser keeps its previous cookie')
  t.same((await get(fastify, small)).body.data, { a: 'x'.repeat(100) })

  // the largest value that fits, and one byte more
  let n = 0
  for (let step = 512; step >= 1; step >>= 1) {
    const response = await fastify.inject({ method: 'POST', url: '/set', payload: { a: 'x'.repeat(n + step) } })
    if (response.statusCode === 200) {
      n += step
      t.ok(sessionCookie(response)?.header.length as number <= 1024)
    }
  }
  const response = await fastify.inject({ method: 'POST', url: '/set', payload: { a: 'x'.repeat(n) } })
  t.equal(response.statusCode, 200, `a value of ${n} characters fits`)
  t.ok((sessionCookie(response)?.header.length as number) > 1024 - 4, 'right at the limit')
})

t.test('maxSize: an explicit save() of a session too large fails the request and sets no cookie', async (t) => {
  const fastify = await app(t, { store: new CookieStore({ maxSize: 1024 }) })
  const response = await fastify.inject({ method: 'POST', url: '/big-save?n=2000' })
  t.equal(response.statusCode, 500)
  t.equal(response.json().code, 'FST_SESSION_TOO_LARGE')
  t.equal(response.headers['set-cookie'], undefined)
  t.equal((await fastify.inject({ method: 'POST', url: '/big-save?n=10' })).statusCode, 200)
})

t.test('the plaintext never appears in Set-Cookie', async (t) => {
  const fastify = await app(t)
  const plain = 'top-secret-plaintext'
  const response = await fastify.inject({ method: 'POST', url: '/set', payload: { 'secret-key-name': plain } })
  const header = String(response.headers['set-cookie'])
  t.ok(header.startsWith('__Host-session='))
  const id = opener([SECRET]).open(valueOf(cookieOf(response)))?.id as string
  t.equal(id.length, 32, 'the session ID is inside the sealed value')
  for (const text of [plain, 'secret-key-name', id]) {
    t.notOk(header.includes(text), text)
    for (const encoding of ['base64', 'base64url'] as const) {
      // the middle of the encoded text, whatever its alignment in a base64 stream
      for (let shift = 0; shift < 3; shift++) {
        const encoded = Buffer.from('x'.repeat(shift) + text).toString(encoding).slice(Math.ceil(shift * 4 / 3) + 1, -4)
        t.ok(encoded.length >= 12, 'a long enough probe')
        t.notOk(header.includes(encoded), `${encoding} of ${text} at shift ${shift}`)
      }
    }
  }
})

t.test('documented limit: destroy clears this browser\'s cookie but cannot revoke a copy', async (t) => {
  const fastify = await app(t, { lifetime: 3600 })
  const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/set', payload: { a: 1 } }))
  const destroyed = await fastify.inject({ method: 'POST', url: '/destroy', headers: { cookie } })
  t.equal(sessionCookie(destroyed)?.value, '', 'deletion cookie sent')
  t.equal((await get(fastify, cookie)).body.reason, 'loaded', 'a copied cookie stays valid until it expires')
})

t.test('documented limit: concurrent changes are not merged, the last cookie wins', async (t) => {
  const fastify = await app(t)
  const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/set', payload: { base: 0 } }))
  const a = cookieOf(await fastify.inject({ method: 'POST', url: '/set', payload: { a: 1 }, headers: { cookie } }))
  const b = cookieOf(await fastify.inject({ method: 'POST', url: '/set', payload: { b: 2 }, headers: { cookie } }))
  t.same((await get(fastify, a)).body.data, { base: 0, a: 1 })
  t.same((await get(fastify, b)).body.data, { base: 0, b: 2 })
})
