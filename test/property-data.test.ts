import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { CookieStore, MemoryStore, RedisStore, type SessionStore } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'
import { assertProperty, runs } from './fixtures/property.ts'
import { spawnRedis } from './fixtures/redis.ts'

// Arbitrary JSON-compatible session data — nested, unicode keys, `__proto__`/`constructor`/`prototype` keys,
// large arrays — round-trips through every store unchanged, and nothing reaches Object.prototype.

const DANGEROUS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'then', 'toJSON', '']

/** Keys users never write but attackers and bugs do: prototype names, unicode, control characters. */
const keyArbitrary = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DANGEROUS) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('d:', ':', '\0', '\r\n', '"', '\\', ' ', '.', '\u2028', '😀'), maxLength: 6 }) },
  // lone surrogates: valid in a JS string and in JSON, not in UTF-8
  { weight: 1, arbitrary: fc.string({ unit: fc.oneof(fc.constantFrom('a', '😀'), fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))), minLength: 1, maxLength: 3 }) }
)

/** An object with exactly these own properties — `__proto__` included as an own key, as `JSON.parse` makes it. */
function objectOf (entries: Array<[string, unknown]>): Record<string, unknown> {
  const object: Record<string, unknown> = {}
  for (const [key, value] of entries) Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
  return object
}

const { json } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.array(tie('json'), { maxLength: 5 }),
    fc.uniqueArray(fc.tuple(keyArbitrary, tie('json')), { maxLength: 5, selector: (entry) => entry[0] }).map(objectOf)
  )
}))

/** Session values: nested JSON with dangerous keys, fast-check's own JSON, pollution payloads, large arrays. */
const valueArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  { withCrossShrink: true },
  { weight: 5, arbitrary: json },
  { weight: 2, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: fc.constantFrom(...['{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '{"a":{"__proto__":{"polluted":1}}}', '[{"__proto__":[1]}]'].map((text) => JSON.parse(text) as unknown)) },
  { weight: 1, arbitrary: fc.array(fc.integer(), { minLength: 500, maxLength: 3000 }) },
  { weight: 1, arbitrary: fc.array(fc.string({ unit: 'grapheme', maxLength: 8 }), { minLength: 100, maxLength: 600 }) }
)

type Entries = Array<[string, unknown]>

function dataArbitrary (key: fc.Arbitrary<string>, maxKeys = 8): fc.Arbitrary<Entries> {
  return fc.uniqueArray(fc.tuple(key, valueArbitrary), { minLength: 1, maxLength: maxKeys, selector: (entry) => entry[0] })
}

/** `key → JSON` of the entries, sorted by key: a Redis hash does not keep key order. */
function canonical (entries: Array<[string, unknown]>): Array<[string, string]> {
  return entries.map(([key, value]): [string, string] => [key, JSON.stringify(value)]).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
}

/** Everything on the prototypes a pollution could reach, to compare before and after. */
function prototypes (): string {
  const describe = (target: object): string[] => Reflect.ownKeys(target).map((key) => {
    const descriptor = Object.getOwnPropertyDescriptor(target, key)
    return `${String(key)}:${typeof descriptor?.value}:${String(descriptor?.get)}`
  })
  return JSON.stringify([describe(Object.prototype), describe(Array.prototype), describe(Function.prototype), String(Object.getPrototypeOf({}) === Object.prototype)])
}

const baseline = prototypes()

function unpolluted (): void {
  const probe = {} as Record<string, unknown>
  if (probe.polluted !== undefined || ([] as unknown as Record<string, unknown>).polluted !== undefined) throw new Error('Object.prototype is polluted')
  if (prototypes() !== baseline) throw new Error('a prototype changed')
}

/**
 * Routes: `/set` writes the entries of the current run from a closure (no body parser in the way), `/set-body` from
 * a JSON body parsed with `__proto__`/`constructor` kept, `/get` answers `[key, JSON]` pairs read with `get()` and with `data()`.
 */
function dataRoutes (current: () => Entries): (app: FastifyInstance) => void {
  return (app) => {
    app.post('/set', async (request) => {
      const session = await request.loadSession()
      for (const [key, value] of current()) session.set(key, value)
      return 'ok'
    })
    app.post('/set-body', async (request) => {
      const session = await request.loadSession()
      for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) session.set(key, value)
      return 'ok'
    })
    app.get('/get', async (request) => {
      const session = await request.loadSession()
      const data = session.data()
      if (Object.getPrototypeOf(data) !== Object.prototype) throw new Error('data() has another prototype')
      return {
        reason: session.reason,
        get: session.keys().map((key) => [key, JSON.stringify(session.get(key))]),
        data: Object.keys(data).map((key) => [key, JSON.stringify(Object.getOwnPropertyDescriptor(data, key)?.value)])
      }
    })
  }
}

async function roundTrip (app: FastifyInstance, entries: Entries, via: 'closure' | 'body'): Promise<void> {
  const response = via === 'closure'
    ? await app.inject({ method: 'POST', url: '/set' })
    : await app.inject({ method: 'POST', url: '/set-body', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(objectOf(entries)) })
  if (response.statusCode !== 200) throw new Error(`set: ${response.statusCode} ${response.body}`)
  const cookie = sessionCookie(response)
  if (cookie === undefined || cookie.value === '') throw new Error('no session cookie')
  const read = await app.inject({ url: '/get', headers: { cookie: cookie.header } })
  if (read.statusCode !== 200) throw new Error(`get: ${read.statusCode} ${read.body}`)
  const body = read.json() as { reason: string, get: Array<[string, string]>, data: Array<[string, string]> }
  const sort = (list: Array<[string, string]>): Array<[string, string]> => [...list].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
  const expected = JSON.stringify(canonical(entries))
  if (body.reason !== 'loaded') throw new Error(`reason ${body.reason}`)
  if (JSON.stringify(sort(body.get)) !== expected) throw new Error(`get() differs:\n${JSON.stringify(sort(body.get))}\n${expected}`)
  if (JSON.stringify(sort(body.data)) !== expected) throw new Error(`data() differs:\n${JSON.stringify(sort(body.data))}\n${expected}`)
  unpolluted()
}

async function dataProperty (t: Test, store: SessionStore | CookieStore, numRuns: number, key: fc.Arbitrary<string> = keyArbitrary): Promise<void> {
  let current: Entries = []
  const app = await build({ store }, dataRoutes(() => current), { onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' })
  t.teardown(() => app.close())
  await assertProperty(t, fc.asyncProperty(dataArbitrary(key), fc.constantFrom('closure' as const, 'body' as const), async (entries, via) => {
    current = entries
    await roundTrip(app, entries, via)
  }), numRuns)
}

t.test('MemoryStore: arbitrary JSON data round-trips unchanged, no prototype pollution', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  await dataProperty(t, store, runs(200))
})

t.test('CookieStore: arbitrary JSON data round-trips unchanged, no prototype pollution', async (t) => {
  await dataProperty(t, new CookieStore({ maxSize: 1_000_000 }), runs(150))
})

t.test('RedisStore: arbitrary JSON data round-trips unchanged, no prototype pollution', async (t) => {
  const { process: server } = await spawnRedis(t)
  const client = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client })
  await dataProperty(t, store, runs(100))

  t.test('regression: RedisStore keeps session keys with lone surrogates distinct and unchanged', async (t) => {
    // A JS string (and JSON) may hold a lone surrogate; UTF-8 cannot: written as is, '\ud800' and '\udc00' both become '\ufffd'.
    const entries: Entries = [['\ud800', 1], ['\udc00', 2], ['\ufffd', 3], ['a\udbff', 4], ['\0x', 5]]
    const app = await build({ store }, dataRoutes(() => entries))
    t.teardown(() => app.close())
    await t.resolves(roundTrip(app, entries, 'closure'))
  })
})
