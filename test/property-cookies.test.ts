import net from 'node:net'
import { parseCookie } from 'cookie'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { CookieStore, MemoryStore, RedisStore, storeKeyOf, type SessionStore } from '../lib/index.ts'
import { build, SECRET, sessionCookie } from './fixtures/app.ts'
import { sealRaw } from './fixtures/cookie-seal.ts'
import { assertProperty, runs } from './fixtures/property.ts'
import { spawnRedis } from './fixtures/redis.ts'

// Arbitrary `Cookie` headers against every store: never a 5xx, never a store call for an ID this app did not
// sign, and always a session the route can write to and the next request can read back.
// Which values of the session cookie (default name `__Host-session`) the plugin considers is the `cookie` module's
// job (each pair named so, trimmed, percent-decoded when that decodes): the properties take its `parse` of each
// `;`-separated pair as the oracle for that split, and the first value that verifies is the session (cookie tossing).

interface StoreCall { op: 'load' | 'save' | 'destroy', id: string, create?: boolean }

/** A store that records every call before passing it on. */
function recording (real: SessionStore): { store: SessionStore, calls: StoreCall[] } {
  const calls: StoreCall[] = []
  return {
    calls,
    store: {
      load: (id) => { calls.push({ op: 'load', id }); return real.load(id) },
      save: (id, update) => { calls.push({ op: 'save', id, create: update.create }); return real.save(id, update) },
      destroy: (id) => { calls.push({ op: 'destroy', id }); return real.destroy(id) }
    }
  }
}

function routes (app: FastifyInstance): void {
  // Writes a token: a fresh session must be usable at once.
  app.get('/visit', async (request) => {
    const session = await request.loadSession()
    session.set('token', (request.query as { token: string }).token)
    return { reason: session.reason, id: session.id }
  })
  app.get('/read', async (request) => {
    const session = await request.loadSession()
    return { reason: session.reason, id: session.id, token: session.get('token') ?? null }
  })
  // Loads and writes nothing: a bad cookie must cost no store I/O at all.
  app.get('/peek', async (request) => (await request.loadSession()).reason)
}

/** A few sessions created by the app itself: `value` is the cookie value, `id` the session ID. */
async function issue (app: FastifyInstance, count: number): Promise<Array<{ value: string, id: string }>> {
  const pool: Array<{ value: string, id: string }> = []
  for (let i = 0; i < count; i++) {
    const cookie = sessionCookie(await app.inject(`/visit?token=pool-${i}`))
    if (cookie === undefined || cookie.value === '') throw new Error('no session cookie')
    const read = (await app.inject({ url: '/read', headers: { cookie: cookie.header } })).json() as { id: string }
    pool.push({ value: cookie.value, id: read.id })
  }
  return pool
}

const SPECIALS = ['\r', '\n', '\r\n', '\0', '"', ';', '=', ',', ' ', '\t', '%', '\\', '%0D%0A', '%00', '%3B', '%', '%zz', 'é', '😀', '\u2028', 'a']

/** Cookie values: the app's own, altered ones, forgeries, and arbitrary text. */
function valueArbitrary (valid: string[]): fc.Arbitrary<string> {
  const own = fc.constantFrom(...valid)
  return fc.oneof(
    { weight: 3, arbitrary: own },
    own.chain((v) => fc.tuple(fc.nat(v.length - 1), fc.constantFrom('A', 'B', '_', '-', '0', '.')).map(([i, c]) => v.slice(0, i) + c + v.slice(i + 1))),
    own.chain((v) => fc.nat(v.length).map((i) => v.slice(0, i))),
    own.chain((v) => fc.constantFrom('A', '=', '.', ' ', '%', '"').map((c) => v + c)),
    // Percent-encoding: @fastify/cookie decodes it, so an encoded own value is the same cookie.
    own.chain((v) => fc.uniqueArray(fc.nat(v.length - 1), { maxLength: 6 }).map((at) => [...v].map((c, i) => at.includes(i) ? '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0') : c).join(''))),
    own.map((v) => `"${v}"`),
    fc.stringMatching(/^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: 'grapheme', maxLength: 30 }),
    fc.string({ unit: fc.constantFrom(...SPECIALS), maxLength: 20 }),
    fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 }),
    fc.integer({ min: 4000, max: 10_240 }).map((n) => 'x'.repeat(n)),
    fc.constant('')
  )
}

const NAME = '__Host-session'

const nameArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.constant(NAME) },
  fc.constantFrom(' ' + NAME, NAME + ' ', '\t' + NAME, '__host-session', '__HOST-SESSION', NAME + '2', '__Host-sess', 'session', '__proto__', 'constructor', 'toString', ''),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }),
  fc.string({ unit: fc.constantFrom(...SPECIALS), maxLength: 4 })
)

/** Whole `Cookie` headers: a few pairs or hundreds, some without `=`, joined however a client might. */
function headerArbitrary (valid: string[]): fc.Arbitrary<string> {
  const pair = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(nameArbitrary, valueArbitrary(valid)).map(([name, value]) => `${name}=${value}`) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...SPECIALS), maxLength: 6 }) }
  )
  const separator = fc.constantFrom('; ', ';', ' ; ', ';;', ', ')
  const pairs = fc.oneof(
    { weight: 10, arbitrary: fc.array(pair, { minLength: 1, maxLength: 8 }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }), fc.string({ unit: 'grapheme-ascii', maxLength: 12 })).map(([n, v]) => `${n}=${v}`), { minLength: 100, maxLength: 400 }).chain((many) => fc.tuple(fc.nat(many.length), fc.array(pair, { minLength: 1, maxLength: 3 })).map(([at, mixed]) => [...many.slice(0, at), ...mixed, ...many.slice(at)])) }
  )
  return fc.tuple(pairs, separator).map(([list, sep]) => list.join(sep))
}

/** What the plugin must make of `header`: loaded when one of the session cookie's values is valid, else invalid when there is one. */
function expectedReason (header: string, valid: ReadonlySet<string>): 'new' | 'loaded' | 'invalid' {
  const values = header.split(';').map((pair) => parseCookie(pair)[NAME]).filter((value) => value !== undefined && value !== '')
  if (values.length === 0) return 'new'
  return values.some((value) => valid.has(value as string)) ? 'loaded' : 'invalid'
}

let token = 0

/**
 * The property for server-side stores: any header → 200; reason as expected; store calls only for IDs the app
 * signed (loads, destroys, saves of existing sessions) or for brand-new IDs (creates); the token written can be read back.
 */
async function serverSideProperty (t: Test, real: SessionStore, numRuns: number): Promise<void> {
  const { store, calls } = recording(real)
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const pool = await issue(app, 4)
  const values = new Set(pool.map((p) => p.value))
  const cookieOf = new Map(pool.map((p) => [p.id, `${NAME}=${p.value}`]))
  // The store is called with store keys (a hash of the ID), never the ID.
  const signed = new Set(pool.map((p) => storeKeyOf(p.id)))
  await assertProperty(t, fc.asyncProperty(headerArbitrary([...values]), async (header) => {
    calls.length = 0
    const mark = `t${++token}`
    const response = await app.inject({ url: `/visit?token=${mark}`, headers: { cookie: header } })
    if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}: ${response.body}`)
    const body = response.json() as { reason: string, id: string | null }
    const expected = expectedReason(header, values)
    if (body.reason !== expected) throw new Error(`reason ${body.reason}, expected ${expected}`)
    for (const call of calls) {
      if (call.op === 'save' && call.create === true) {
        if (signed.has(call.id)) throw new Error('a new session reuses an existing ID')
      } else if (!signed.has(call.id)) {
        throw new Error(`store.${call.op} for an ID this app never signed`)
      }
    }
    if (expected !== 'loaded' && calls.some((call) => call.op === 'load')) throw new Error('a store load for a cookie that does not verify')
    // The session is usable: the next request with the cookie the browser now holds reads the token back.
    const set = sessionCookie(response)
    let next: string | undefined
    if (set !== undefined && set.value !== '') {
      next = set.header
      signed.add(storeKeyOf(set.value.slice(0, set.value.indexOf('.'))))
    } else if (body.reason === 'loaded' && body.id !== null) {
      next = cookieOf.get(body.id)
    }
    if (next === undefined) throw new Error(`no usable cookie after a ${body.reason} session: ${String(response.headers['set-cookie'])}`)
    const read = (await app.inject({ url: '/read', headers: { cookie: next } })).json() as { reason: string, token: string | null }
    if (read.reason !== 'loaded' || read.token !== mark) throw new Error(`the next request reads ${JSON.stringify(read)}, not the token ${mark}`)
  }), numRuns)
}

t.test('MemoryStore: arbitrary Cookie headers', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  await serverSideProperty(t, store, runs(200))
})

t.test('RedisStore: arbitrary Cookie headers', async (t) => {
  const { process: server } = await spawnRedis(t)
  const client = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client })
  await serverSideProperty(t, store, runs(100))

  t.test('cookies that do not verify cause no command on the Redis server (INFO commandstats)', async (t) => {
    const app = await build({ store }, routes)
    t.teardown(() => app.close())
    const valid = (await issue(app, 2)).map((p) => p.value)
    const commands = async (): Promise<Map<string, number>> => {
      const stats = new Map<string, number>()
      for (const match of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1] as string, Number(match[2]))
      return stats
    }
    const headers = fc.sample(headerArbitrary(valid).filter((header) => expectedReason(header, new Set(valid)) !== 'loaded'), { numRuns: runs(100) })
    const before = await commands()
    const answers = new Set<string>()
    for (const header of headers) {
      const response = await app.inject({ url: '/peek', headers: { cookie: header } })
      answers.add(`${response.statusCode} ${response.body}`)
    }
    const after = await commands()
    t.same([...answers].filter((answer) => answer !== '200 new' && answer !== '200 invalid'), [], 'every answer is 200 with a new or invalid session')
    const used = [...after].filter(([name, calls]) => name !== 'info' && calls !== (before.get(name) ?? 0))
    t.same(used, [], `${headers.length} requests with cookies that do not verify: no command but INFO reached Redis`)
  })
})

t.test('CookieStore: arbitrary Cookie headers', async (t) => {
  const app = await build({ store: new CookieStore() }, routes)
  t.teardown(() => app.close())
  const pool = await issue(app, 4)
  const values = new Set(pool.map((p) => p.value))
  await assertProperty(t, fc.asyncProperty(headerArbitrary([...values]), async (header) => {
    const mark = `t${++token}`
    const response = await app.inject({ url: `/visit?token=${mark}`, headers: { cookie: header } })
    if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}: ${response.body}`)
    const expected = expectedReason(header, values)
    const body = response.json() as { reason: string }
    if (body.reason !== expected) throw new Error(`reason ${body.reason}, expected ${expected}`)
    const set = sessionCookie(response)
    if (set === undefined || set.value === '') throw new Error('a changed CookieStore session always sends its cookie')
    const read = (await app.inject({ url: '/read', headers: { cookie: set.header } })).json() as { reason: string, token: string | null }
    if (read.reason !== 'loaded' || read.token !== mark) throw new Error(`the next request reads ${JSON.stringify(read)}`)
  }), runs(200))
})

t.test('CookieStore: arbitrary bytes, base64url and sealed garbage are refused as "invalid", never an error', async (t) => {
  const store = new CookieStore()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const base64url = fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
    // the version byte right and long enough to reach the cipher
    fc.uint8Array({ minLength: 30, maxLength: 400 }).map((bytes) => Buffer.concat([Buffer.from([1]), bytes]).toString('base64url')),
    fc.stringMatching(/^[A-Za-z0-9_-]{40,200}$/),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1'))
  )
  await assertProperty(t, fc.asyncProperty(base64url, async (value) => {
    if (store.open(value) !== null) throw new Error('open accepted a value this store did not seal')
    const response = await app.inject({ url: '/peek', headers: { cookie: `${NAME}=${value}` } })
    const expected = expectedReason(`${NAME}=${value}`, new Set())
    if (response.statusCode !== 200 || response.body !== expected) throw new Error(`${response.statusCode} ${response.body}, expected ${expected}`)
  }), runs(300))

  // Authenticated with our key but not a payload CookieStore writes: refused, never a throw.
  const plaintext = fc.oneof(
    fc.jsonValue().map((value) => JSON.stringify(value)),
    fc.tuple(fc.string(), fc.oneof(fc.double(), fc.string(), fc.constant(null)), fc.jsonValue(), fc.jsonValue(), fc.array(fc.jsonValue(), { maxLength: 5 })).map(([id, a, b, c, rest]) => JSON.stringify([id, a, b, c, ...rest])),
    fc.string({ unit: 'binary', maxLength: 100 })
  )
  await assertProperty(t, fc.asyncProperty(plaintext, async (text) => {
    const value = sealRaw(SECRET, text)
    let opened
    try {
      opened = store.open(value)
    } catch (error) {
      throw new Error(`open threw ${String(error)}`)
    }
    const response = await app.inject({ url: '/peek', headers: { cookie: `${NAME}=${value}` } })
    if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}: ${response.body}`)
    if (opened === null && response.body !== 'invalid') throw new Error(`reason ${response.body} for a payload open refused`)
  }), runs(200))
})

t.test('duplicated session cookies: the first one that verifies is used (see cookie-tossing.test.ts)', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  const [own] = await issue(app, 1)
  const valid = own?.value ?? ''
  t.equal((await app.inject({ url: '/peek', headers: { cookie: `${NAME}=${valid}; ${NAME}=garbage` } })).body, 'loaded')
  t.equal((await app.inject({ url: '/peek', headers: { cookie: `other=1; ${NAME}=${valid}; ${NAME}=${valid}x` } })).body, 'loaded')
  t.equal((await app.inject({ url: '/peek', headers: { cookie: `${NAME}=garbage; ${NAME}=${valid}` } })).body, 'loaded')
  t.equal((await app.inject({ url: '/peek', headers: { cookie: `${NAME}=garbage; ${NAME}=more-garbage` } })).body, 'invalid')
})

/** Sends `cookie` (latin1 bytes, as on the wire) over a real socket; resolves with the status code. */
function rawRequest (port: number, cookie: string | string[]): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) })
    })
    const lines = (Array.isArray(cookie) ? cookie : [cookie]).map((value) => `Cookie: ${value}\r\n`).join('')
    socket.end(Buffer.from(`GET /peek HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${lines}\r\n`, 'latin1'))
  })
}

t.test('over a real socket: what a client can send is refused by Node (400/431) or gets a session, never a 5xx', async (t) => {
  const { store, calls } = recording(new MemoryStore())
  let handled = 0
  const app = await build({ store }, (app) => {
    routes(app)
    app.addHook('onRequest', async () => { handled++ })
  })
  t.teardown(() => app.close())
  const [own] = await issue(app, 1)
  const valid = own?.value ?? ''
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as net.AddressInfo

  const cases: Array<[string, string | string[], number, string?]> = [
    ['a valid cookie', `${NAME}=${valid}`, 200, 'loaded'],
    ['two Cookie header lines (Node joins them with "; ")', [`${NAME}=${valid}`, `${NAME}=garbage`], 200, 'loaded'],
    ['CR inside the value', NAME + '=a\rb', 400],
    ['LF inside the value', NAME + '=a\nb', 400],
    ['NUL inside the value', NAME + '=a\0b', 400],
    ['another control character', NAME + '=a\x01b', 400],
    ['DEL', NAME + '=a\x7fb', 400],
    ['a header folded onto the next line', `${NAME}=${valid}\r\n more`, 400],
    ['bytes 0x80–0xFF (obs-text, read as latin1)', NAME + '=\xe9\xff\x80', 200, 'invalid'],
    ['a tab and quotes', NAME + '="a\tb"', 200, 'invalid'],
    ['percent-encoded CRLF and NUL', NAME + '=%0D%0A%00', 200, 'invalid'],
    ['a 10 KB value', NAME + '=' + 'x'.repeat(10_240), 200, 'invalid'],
    ['a 20 KB value (past Node\'s 16 KB header limit)', NAME + '=' + 'x'.repeat(20_000), 431]
  ]
  for (const [name, cookie, status, reason] of cases) {
    const before = handled
    calls.length = 0
    const response = await rawRequest(port, cookie)
    t.equal(response.status, status, name)
    if (status === 200) t.equal(response.body, reason, `${name}: reason`)
    else t.equal(handled, before, `${name}: Fastify never saw it`)
    if (reason !== 'loaded') t.same(calls.filter((call) => call.op === 'load'), [], `${name}: no store load`)
  }

  // Arbitrary bytes on the wire: Node refuses the request, or the plugin gives a session; never a 5xx.
  await assertProperty(t, fc.asyncProperty(fc.uint8Array({ maxLength: 120 }), async (bytes) => {
    calls.length = 0
    const response = await rawRequest(port, NAME + '=' + Buffer.from(bytes).toString('latin1'))
    if (response.status !== 200 && response.status !== 400) throw new Error(`status ${response.status}`)
    if (response.status === 200 && response.body !== 'invalid' && response.body !== 'new') throw new Error(`reason ${response.body}`)
    if (calls.length > 0) throw new Error('a store call')
  }), runs(50))
})
