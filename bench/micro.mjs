// Micro-benchmarks of fastify-lazy-session internals (from dist/, `npm run build` first), printed as Markdown:
//   - session ID: generate, sign, verify (HMAC-SHA256), against @fastify/cookie's signer (what @fastify/session uses)
//   - CookieStore seal / open (XChaCha20-Poly1305, format 2), against @fastify/secure-session's encode / decode (libsodium secretbox)
//   - heap taken by 100,000 MemoryStore sessions of two small keys each (needs --expose-gc)
// Run: node --expose-gc bench/micro.mjs   (run.mjs does this after the HTTP table, pinned to the server core)
// Env: BENCH_QUICK=1 shorter; BENCH_MICRO_MS [1000] time per sample; BENCH_MICRO_SAMPLES [5]; BENCH_MICRO_SESSIONS [100000].

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT_DIR, SECRET, median, machineBusySeconds } from './harness.mjs'

const QUICK = process.env.BENCH_QUICK === '1'
const SAMPLE_MS = Number(process.env.BENCH_MICRO_MS || (QUICK ? 150 : 1000))
const SAMPLES = Math.max(1, Math.floor(Number(process.env.BENCH_MICRO_SAMPLES || (QUICK ? 2 : 5))))
const SESSIONS = Math.max(1, Math.floor(Number(process.env.BENCH_MICRO_SESSIONS || 100_000)))
const OTHER_SECRET = 'an-older-secret-still-accepted-for-rotation-32+'

const dist = (file) => pathToFileURL(join(ROOT_DIR, 'dist', file)).href
const out = []
const fmt = (n) => (n == null ? '—' : Math.round(n).toLocaleString('en-US'))

/** Cores used by other processes since `mark` (machine-wide CPU time minus ours), or null without /proc. */
const MAX_FOREIGN = Number(process.env.BENCH_MAX_FOREIGN || 0.15)
const quiet = { retried: 0, disturbed: 0 }
function mark () {
  return { busy: machineBusySeconds(), own: process.cpuUsage(), t: process.hrtime.bigint() }
}
function foreignSince (m) {
  const busy = machineBusySeconds()
  if (m.busy == null || busy == null) return null
  const own = process.cpuUsage(m.own)
  const wall = Number(process.hrtime.bigint() - m.t) / 1e9
  return Math.max(0, (busy - m.busy) - (own.user + own.system) / 1e6) / wall
}

/**
 * ops/s of `fn`: SAMPLES samples of ~SAMPLE_MS each (after one warm-up sample), median.
 * Each sample runs `fn` in batches of `batch` calls until the time is up (at most 1e9 calls); a sample during
 * which other processes used more than MAX_FOREIGN cores is taken again (at most 3 times).
 */
function bench (fn, batch = 1000) {
  let sink
  const sample = () => {
    const deadline = process.hrtime.bigint() + BigInt(Math.round(SAMPLE_MS * 1e6))
    const t0 = process.hrtime.bigint()
    let n = 0
    let now = t0
    while (now < deadline && n < 1e9) {
      for (let i = 0; i < batch; i++) sink = fn(n + i) // a running index, so inputs cycle through whole arrays
      n += batch
      now = process.hrtime.bigint()
    }
    return n / (Number(now - t0) / 1e9)
  }
  sample() // warm-up
  const xs = []
  for (let i = 0; i < SAMPLES; i++) {
    for (let attempt = 0; ; attempt++) {
      const m = mark()
      const ops = sample()
      const foreign = foreignSince(m)
      if (foreign == null || foreign <= MAX_FOREIGN || attempt >= 3) {
        if (foreign != null && foreign > MAX_FOREIGN) quiet.disturbed++
        xs.push(ops)
        break
      }
      quiet.retried++
    }
  }
  if (sink === Symbol.for('never')) console.log(sink)
  return median(xs)
}

async function main () {
  if (!existsSync(join(ROOT_DIR, 'dist', 'index.js'))) {
    console.log('## Micro-benchmarks\n\n_dist/ is missing: run `npm run build` first._\n')
    return
  }
  out.push('## Micro-benchmarks\n\n')
  out.push(`Node ${process.version}; median of ${SAMPLES} samples × ${SAMPLE_MS} ms after one warm-up sample, one core.\n\n`)

  // --- session IDs --------------------------------------------------------------------------
  const signing = await import(dist('signing.js'))
  const { IdSigner, generateId } = signing
  const signer = new IdSigner([SECRET, OTHER_SECRET])
  const verifyName = typeof signer.verify === 'function' ? 'verify' : 'unsign'
  // REPEATED: the same 1,024 values again, like a browser presenting its cookie (a cache of verified values,
  // if the signer has one, answers them). DISTINCT: 30,000 values cycled, more than such a cache holds.
  const DISTINCT = 30_000
  const ids = Array.from({ length: DISTINCT }, () => generateId())
  const signed = ids.map((id) => signer.sign(id))
  if (!signer[verifyName](signed[0])) throw new Error(`IdSigner.${verifyName} refused a value IdSigner.sign produced`)
  const oldSigner = new IdSigner([OTHER_SECRET])
  const signedOld = ids.map((id) => oldSigner.sign(id))
  const forged = signed.slice(0, 1024).map((v) => v.slice(0, -2) + (v.endsWith('AA') ? 'BA' : 'AA'))
  const fresh = () => new IdSigner([SECRET, OTHER_SECRET])
  const repeat = fresh()
  const miss = fresh()
  const rotate = fresh()
  const bad = fresh()

  const { Signer: CookieSigner } = (await import('@fastify/cookie')).default
  const cookieSigner = new CookieSigner([SECRET, OTHER_SECRET])
  const cookieSigned = ids.map((id) => cookieSigner.sign(id))
  const n = DISTINCT.toLocaleString('en-US')

  const idRows = [
    ['generateId() (24 random bytes, base64url)', bench(() => generateId())],
    ['sign(id)', bench((i) => signer.sign(ids[i % DISTINCT]))],
    [`${verifyName}(signed) — repeated values (what one browser sends)`, bench((i) => repeat[verifyName](signed[i & 1023]))],
    [`${verifyName}(signed) — ${n} distinct values, first secret`, bench((i) => miss[verifyName](signed[i % DISTINCT]))],
    [`${verifyName}(signed) — ${n} distinct values, second secret (rotation)`, bench((i) => rotate[verifyName](signedOld[i % DISTINCT]))],
    [`${verifyName}(forged) — bad signature, both secrets tried`, bench((i) => bad[verifyName](forged[i & 1023]))],
    ['_reference_: @fastify/cookie Signer.sign (used by @fastify/session)', bench((i) => cookieSigner.sign(ids[i % DISTINCT]))],
    ['_reference_: @fastify/cookie Signer.unsign (no cache)', bench((i) => cookieSigner.unsign(cookieSigned[i % DISTINCT]))]
  ]
  out.push('### Session ID signing (HMAC-SHA256, two secrets configured)\n\n| operation | ops/s |\n|---|--:|\n')
  for (const [name, ops] of idRows) out.push(`| ${name} | ${fmt(ops)} |\n`)

  // --- CookieStore ----------------------------------------------------------------------------
  const { CookieStore, MemoryStore } = await import(dist('index.js'))
  const newCookieStore = (secrets) => { const store = new CookieStore(); store.useSecrets(secrets); return store }
  const sealer = newCookieStore([SECRET, OTHER_SECRET])
  const oldSealer = newCookieStore([OTHER_SECRET])
  const now = Date.now()
  const record = (n) => ({
    data: new Map([['userId', JSON.stringify('user-' + n)], ['n', JSON.stringify(n)]]),
    createdAt: now,
    lastAccessAt: now,
    expiresAt: now + 14 * 86400_000
  })
  // DISTINCT values: more than any per-store cache of opened values holds (the CookieStore remembers
  // ~1 MiB of values), so every open of them decrypts. REPEATED: the same 1,024 values again, like a
  // browser presenting its cookie until a response changes it.
  const many = Array.from({ length: DISTINCT }, (_, i) => generateId())
  const sealed = many.map((id, i) => sealer.seal(id, record(i)))
  const sealedOld = many.map((id, i) => oldSealer.seal(id, record(i)))
  const records = Array.from({ length: 1024 }, (_, i) => record(i))
  const tampered = sealed.slice(0, 1024).map((v) => v.slice(0, 20) + (v[20] === 'A' ? 'B' : 'A') + v.slice(21))
  const opener = newCookieStore([SECRET, OTHER_SECRET])
  const opened = opener.open(sealed[0])
  if (!opened || opened.id !== many[0] || opened.record.data.get('userId') !== JSON.stringify('user-0')) throw new Error('CookieStore.open did not return what seal sealed')
  const sealStore = newCookieStore([SECRET, OTHER_SECRET])
  const repeatStore = newCookieStore([SECRET, OTHER_SECRET])
  const missStore = newCookieStore([SECRET, OTHER_SECRET])
  const rotateStore = newCookieStore([SECRET, OTHER_SECRET])
  const badStore = newCookieStore([SECRET, OTHER_SECRET])

  // @fastify/secure-session's own encode/decode, through its fastify decorators.
  const { default: Fastify } = await import('fastify')
  const { default: secureSession } = await import('@fastify/secure-session')
  const { createHash } = await import('node:crypto')
  const app = Fastify({ logger: false })
  await app.register(secureSession, { key: createHash('sha256').update(SECRET).digest() })
  await app.ready()
  const ssSessions = Array.from({ length: 1024 }, (_, i) => app.createSecureSession({ userId: 'user-' + i, n: i }))
  const ssEncoded = ssSessions.map((s) => app.encodeSecureSession(s))

  const sealRows = [
    ['seal(id, record) — two small keys', bench((i) => sealStore.seal(many[i & 1023], records[i & 1023]))],
    ['open(value) — repeated values (what one browser sends)', bench((i) => repeatStore.open(sealed[i & 1023]))],
    [`open(value) — ${DISTINCT.toLocaleString('en-US')} distinct values, first key`, bench((i) => missStore.open(sealed[i % DISTINCT]))],
    [`open(value) — ${DISTINCT.toLocaleString('en-US')} distinct values, second key (rotation)`, bench((i) => rotateStore.open(sealedOld[i % DISTINCT]))],
    ['open(tampered) — refused', bench((i) => badStore.open(tampered[i & 1023]))],
    ['_reference_: @fastify/secure-session encodeSecureSession', bench((i) => app.encodeSecureSession(ssSessions[i & 1023]))],
    ['_reference_: @fastify/secure-session decodeSecureSession (no cache)', bench((i) => app.decodeSecureSession(ssEncoded[i & 1023]))]
  ]
  await app.close()
  out.push(`\n### CookieStore (XChaCha20-Poly1305; sealed value ${sealed[0].length} characters)\n\n| operation | ops/s |\n|---|--:|\n`)
  for (const [name, ops] of sealRows) out.push(`| ${name} | ${fmt(ops)} |\n`)

  // --- MemoryStore heap -----------------------------------------------------------------------
  if (typeof globalThis.gc !== 'function') {
    out.push('\n### MemoryStore heap\n\n_Skipped: run with `node --expose-gc`._\n')
  } else {
    const heap = async (build) => {
      for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)) }
      const before = process.memoryUsage().heapUsed
      const keep = await build()
      for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)) }
      const after = process.memoryUsage().heapUsed
      return { bytes: after - before, keep }
    }
    const sessionIds = Array.from({ length: SESSIONS }, () => generateId()) // the IDs themselves are not counted
    const t = Date.now()
    const update = (i) => ({
      create: true,
      replace: true,
      set: new Map([['userId', JSON.stringify('user-' + i)], ['n', JSON.stringify(i)]]),
      delete: [],
      createdAt: t,
      lastAccessAt: t,
      expiresAt: null,
      ttl: null
    })
    const ours = await heap(async () => {
      const store = new MemoryStore({ maxSessions: SESSIONS })
      for (let i = 0; i < SESSIONS; i++) await store.save(sessionIds[i], update(i))
      return store
    })
    const stored = ours.keep.size ?? SESSIONS
    ours.keep.close?.()
    const plain = await heap(async () => {
      const m = new Map()
      for (let i = 0; i < SESSIONS; i++) m.set(sessionIds[i], { userId: 'user-' + i, n: i })
      return m
    })
    out.push(`\n### MemoryStore heap (${SESSIONS.toLocaleString('en-US')} sessions, keys \`userId\` and \`n\`)\n\n`)
    out.push('| what | heap | per session |\n|---|--:|--:|\n')
    out.push(`| MemoryStore (${stored.toLocaleString('en-US')} entries held) | ${(ours.bytes / 1048576).toFixed(1)} MiB | ${fmt(ours.bytes / SESSIONS)} B |\n`)
    out.push(`| _reference_: plain \`Map<id, { userId, n }>\` | ${(plain.bytes / 1048576).toFixed(1)} MiB | ${fmt(plain.bytes / SESSIONS)} B |\n`)
    out.push('\nThe 32-character IDs are allocated before the first measurement and not counted in either row.\n')
  }

  if (quiet.retried || quiet.disturbed) {
    out.push(`\n_${quiet.retried} samples were taken again because other processes were busy; ${quiet.disturbed} stayed disturbed (> ${MAX_FOREIGN} cores of other load)._\n`)
  }
  console.log(out.join(''))
}

main().catch((err) => {
  console.log(out.join('') + `\n_micro-benchmarks failed: ${String(err?.message ?? err)}_\n`)
  console.error(err)
  process.exit(1)
})
