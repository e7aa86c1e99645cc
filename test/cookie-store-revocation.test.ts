import type { Cluster } from 'ioredis'
import t from 'tap'
import { CookieStore } from '../lib/index.ts'
import { fakeClock, SECRET } from './fixtures/app.ts'
import { cleanUp, connect, ownServer, startRedis, uniquePrefix, within } from './fixtures/redis.ts'

// Issue 14 on CookieStore: revokeAll(user, except?) records a per-user cut-off; revoked(user, handle, sealedAt)
// refuses every cookie of that user sealed at or before it, but the one excepted. In process by default, or in Redis.

const DAY = 86_400_000

// Types only: an ioredis Cluster is accepted as the revocations client too (the Redis case below runs a single node).
void ((cluster: Cluster) => new CookieStore({ revocations: { client: cluster } }))

function store (options: ConstructorParameters<typeof CookieStore>[0] = {}): CookieStore {
  const s = new CookieStore(options)
  s.useSecrets([SECRET], 'session')
  return s
}

t.test('in process: cookies sealed before revokeAll are revoked, later ones and the excepted one are not', async (t) => {
  const clock = fakeClock(t)
  const s = store()
  const before = Date.now()
  t.equal(await s.revoked('ada', 'h1', before), false, 'nothing revoked yet')
  clock.advance(1)
  t.equal(await s.revokeAll('ada', 'h2'), 0, 'resolves 0: a CookieStore cannot count cookies')
  t.equal(await s.revoked('ada', 'h1', before), true)
  t.equal(await s.revoked('ada', 'h1', Date.now()), true, 'sealed in the same millisecond: revoked (fails closed)')
  t.equal(await s.revoked('ada', 'h2', before), false, 'the excepted session stays')
  t.equal(await s.revoked('bob', 'h1', before), false, 'other users are untouched')
  clock.advance(1)
  t.equal(await s.revoked('ada', 'h1', Date.now()), false, 'sealed after the cut-off: a new sign-in')
  await s.revokeAll('ada')
  t.equal(await s.revoked('ada', 'h2', before), true, 'a later revokeAll without except ends the excepted one too')
})

t.test('in process: a cut-off is kept as long as the longest session this store sealed or opened, at least gcTtl', async (t) => {
  const clock = fakeClock(t)
  const s = store({ gcTtl: 3600 })
  const now = Date.now()
  s.seal('Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4', { data: new Map([['a', '1']]), createdAt: now, lastAccessAt: now, expiresAt: now + 3 * DAY })
  await s.revokeAll('ada')
  clock.advance(3 * DAY / 1000 - 1)
  t.equal(await s.revoked('ada', 'h', now), true, 'kept while a cookie sealed before it can still be valid')
  clock.advance(1)
  t.equal(await s.revoked('ada', 'h', now), false, 'forgotten once every such cookie has expired')

  const short = store({ gcTtl: 60 })
  await short.revokeAll('bob')
  clock.advance(59)
  t.equal(await short.revoked('bob', 'h', now), true)
  clock.advance(1)
  t.equal(await short.revoked('bob', 'h', now), false, 'no longer session seen: gcTtl')
})

t.test('in process: revocations.ttl overrides the default; forgotten cut-offs are dropped as new ones come', async (t) => {
  const clock = fakeClock(t)
  const s = store({ revocations: { ttl: 10 } })
  const sealedAt = Date.now()
  await s.revokeAll('ada')
  await s.revokeAll('bob')
  clock.advance(10)
  await s.revokeAll('carol')
  t.equal(await s.revoked('ada', 'h', sealedAt), false)
  t.equal(await s.revoked('carol', 'h', sealedAt), true)
  await s.revokeAll('carol', 'h')
  t.equal(await s.revoked('carol', 'h', sealedAt), false, 'revoking again replaces the cut-off')
})

t.test('revocations options are checked', async (t) => {
  const invalid: unknown[] = ['redis', { client: {} }, { client: null }, { prefix: 1 }, { ttl: 0 }, { ttl: -5 }, { timeout: 0 }, { timeout: 2 ** 31 }]
  for (const revocations of invalid) {
    t.throws(() => new CookieStore({ revocations: revocations as object }), { code: 'FST_SESSION_INVALID_OPTION', message: /revocations/ }, JSON.stringify(revocations))
  }
})

t.test('in Redis: shared by every process, one key per user with a TTL', async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server)
  const prefix = uniquePrefix()
  cleanUp(t, server, prefix)
  const one = store({ revocations: { client, prefix }, gcTtl: 600 })
  const other = store({ revocations: { client, prefix }, gcTtl: 600 })
  const before = Date.now() - 1
  t.equal(await other.revoked('ada', 'h1', before), false)
  t.equal(await one.revokeAll('ada', 'h2'), 0)
  t.equal(await other.revoked('ada', 'h1', before), true, 'another process sees the cut-off')
  t.equal(await other.revoked('ada', 'h2', before), false, 'and the session excepted')
  t.equal(await other.revoked('bob', 'h1', before), false)
  t.equal(await other.revoked('ada', 'h1', Date.now() + 1), false, 'a cookie sealed after the cut-off')
  const ttl = await client.pttl(prefix + 'ada')
  t.ok(ttl > 590_000 && ttl <= 600_000, `the key expires with gcTtl (${ttl} ms)`)
  t.same(await client.keys(prefix + '*'), [prefix + 'ada'], 'one key per user, nothing else')

  await store({ revocations: { client, prefix, ttl: 30 } }).revokeAll('bob')
  const bobTtl = await client.pttl(prefix + 'bob')
  t.ok(bobTtl > 20_000 && bobTtl <= 30_000, `revocations.ttl (${bobTtl} ms)`)
})

t.test('in Redis: a stalled or failing server rejects with FST_SESSION_STORE_UNAVAILABLE, never hangs', ownServer, async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server, { maxRetriesPerRequest: 0 })
  const s = store({ revocations: { client, prefix: uniquePrefix(), timeout: 200 } })
  await client.ping()
  server.pause()
  try {
    await t.rejects(within(5000, s.revokeAll('ada')), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /revokeAll: no reply from Redis within 200 ms/ })
    await t.rejects(within(5000, s.revoked('ada', 'h', 0)), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /revoked/ })
  } finally {
    server.resume()
  }
  client.disconnect()
  await t.rejects(within(5000, s.revoked('ada', 'h', 0)), { code: 'FST_SESSION_STORE_UNAVAILABLE' }, 'a closed connection fails at once')
})
