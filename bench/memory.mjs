// Memory per session, printed as Markdown (run.mjs runs it after the HTTP tables; `npm run build` first):
//   - MemoryStore: heap taken by N sessions of two short keys (`userId`, `n`), saved the way the plugin saves them
//     (store key = storeKeyOf(id), handle given), measured with --expose-gc and process.memoryUsage().heapUsed;
//   - RedisStore: growth of the server's `used_memory` per session of five keys, created through the plugin
//     (app.inject) on a private redis-server this script starts (never the one on 6379).
// Run: node --expose-gc bench/memory.mjs [memory|redis|all]
// Env: BENCH_QUICK=1 fewer sessions; BENCH_MEMORY_SESSIONS [100000]; BENCH_REDIS_SESSIONS [20000].

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT_DIR, SECRET, startRedis, installCleanup, killAll, ensureDirs } from './harness.mjs'

const QUICK = process.env.BENCH_QUICK === '1'
const MEMORY_SESSIONS = Math.max(1, Math.floor(Number(process.env.BENCH_MEMORY_SESSIONS || (QUICK ? 50_000 : 100_000))))
const REDIS_SESSIONS = Math.max(1, Math.floor(Number(process.env.BENCH_REDIS_SESSIONS || (QUICK ? 5_000 : 20_000))))
const which = process.argv[2] ?? 'all'
const dist = (file) => pathToFileURL(join(ROOT_DIR, 'dist', file)).href
const fmt = (n) => (n == null ? '—' : Math.round(n).toLocaleString('en-US'))
const log = (...args) => console.error(...args)

async function settledHeap () {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)) }
  return process.memoryUsage().heapUsed
}

/** Heap per MemoryStore session; the IDs and store keys are allocated before the first reading and not counted. */
export async function memoryStoreHeap (sessions = MEMORY_SESSIONS) {
  const { MemoryStore } = await import(dist('index.js'))
  const { generateId, storeKeyOf, handleOf } = await import(dist('signing.js'))
  const keys = Array.from({ length: sessions }, () => storeKeyOf(generateId()))
  const t = Date.now()
  const update = (i) => ({
    create: true,
    replace: true,
    set: new Map([['userId', JSON.stringify('user-' + i)], ['n', JSON.stringify(i)]]),
    delete: [],
    createdAt: t,
    lastAccessAt: t,
    expiresAt: t + 86_400_000,
    ttl: 86_400,
    // computed here, not beforehand: a store that keeps the handle pays for it in this figure
    handle: handleOf(keys[i])
  })
  const measure = async (build) => {
    const before = await settledHeap()
    const keep = await build()
    const after = await settledHeap()
    return { bytes: after - before, keep }
  }
  const ours = await measure(async () => {
    const store = new MemoryStore({ maxSessions: sessions })
    for (let i = 0; i < sessions; i++) await store.save(keys[i], update(i))
    return store
  })
  const held = ours.keep.size
  ours.keep.close()
  const plain = await measure(async () => {
    const m = new Map()
    for (let i = 0; i < sessions; i++) m.set(keys[i], { userId: 'user-' + i, n: i })
    return m
  })
  return { sessions, held, bytes: ours.bytes, perSession: ours.bytes / sessions, plainPerSession: plain.bytes / sessions }
}

/** used_memory growth per RedisStore session of five keys, created through the plugin. */
export async function redisPerSession (sessions = REDIS_SESSIONS) {
  const { default: plugin, RedisStore } = await import(dist('index.js'))
  const { default: Fastify } = await import('fastify')
  const { Redis } = await import('ioredis')
  const { randomBytes } = await import('node:crypto')
  const redis = await startRedis()
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  try {
    const app = Fastify()
    await app.register(plugin, { secret: SECRET, store: new RedisStore({ client, prefix: 'm:' }), cookie: { secure: false } })
    // A typical signed-in session: five short keys.
    app.get('/login', async (request) => {
      const session = await request.loadSession()
      session.set('userId', `user-${randomBytes(6).toString('hex')}`)
      session.set('roles', ['user', 'editor'])
      session.set('csrf', randomBytes(16).toString('base64url'))
      session.set('loginAt', Date.now())
      session.set('theme', 'dark')
      return 'ok'
    })
    await app.ready()
    await app.inject('/login') // the first request's one-off allocations (scripts loaded, …) not counted
    const used = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1])
    const keysBefore = await client.dbsize()
    const before = await used()
    let next = 0
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < sessions) {
        next++
        const r = await app.inject('/login')
        if (r.statusCode !== 200) throw new Error(`GET /login → ${r.statusCode}`)
      }
    }))
    const after = await used()
    const keys = await client.dbsize() - keysBefore
    const sample = []
    for (let i = 0; i < 200; i++) {
      const key = await client.randomkey()
      if (key !== null) sample.push(Number(await client.memory('USAGE', key, 'SAMPLES', '0')))
    }
    const fields = Object.keys(await client.hgetall(String(await client.randomkey())))
    await app.close()
    return {
      sessions,
      keys,
      perSession: (after - before) / sessions,
      memoryUsage: sample.reduce((a, b) => a + b, 0) / Math.max(1, sample.length),
      fields
    }
  } finally {
    client.disconnect()
    await redis.stop()
  }
}

async function main () {
  if (!existsSync(join(ROOT_DIR, 'dist', 'index.js'))) {
    console.log('## Memory per session\n\n_dist/ is missing: run `npm run build` first._\n')
    return
  }
  ensureDirs()
  installCleanup()
  const out = ['## Memory per session\n\n']
  if (which === 'all' || which === 'memory') {
    if (typeof globalThis.gc !== 'function') {
      out.push('_MemoryStore heap skipped: run with `node --expose-gc`._\n\n')
    } else {
      log(`memory: MemoryStore heap, ${MEMORY_SESSIONS.toLocaleString('en-US')} sessions…`)
      const m = await memoryStoreHeap()
      out.push(`MemoryStore: ${m.sessions.toLocaleString('en-US')} sessions of two short keys (\`userId\`, \`n\`) saved as the plugin ` +
        'saves them (hashed store key, handle given); heap after forced GCs, the store keys allocated beforehand and not counted.\n\n')
      out.push('| what | per session (target ≤ 300 B) |\n|---|--:|\n')
      out.push(`| MemoryStore (${m.held.toLocaleString('en-US')} entries held) | **${fmt(m.perSession)} B** |\n`)
      out.push(`| _reference_: plain \`Map<key, { userId, n }>\` | ${fmt(m.plainPerSession)} B |\n\n`)
    }
  }
  if (which === 'all' || which === 'redis') {
    try {
      log(`memory: RedisStore used_memory, ${REDIS_SESSIONS.toLocaleString('en-US')} sessions…`)
      const r = await redisPerSession()
      out.push(`RedisStore: ${r.sessions.toLocaleString('en-US')} sessions of five keys (\`userId\`, \`roles\`, \`csrf\`, \`loginAt\`, \`theme\`) ` +
        `created through the plugin on a private redis-server (${r.keys.toLocaleString('en-US')} Redis keys; one session's hash fields: ${r.fields.map((f) => `\`${f}\``).join(', ')}).\n\n`)
      out.push('| what | per session (target ≤ 250 B) |\n|---|--:|\n')
      out.push(`| \`used_memory\` growth / sessions | **${fmt(r.perSession)} B** |\n`)
      out.push(`| \`MEMORY USAGE\` of a session key (mean of 200 random keys) | ${fmt(r.memoryUsage)} B |\n\n`)
    } catch (err) {
      out.push(`_RedisStore figure failed: ${String(err?.message ?? err).split('\n')[0]}_\n\n`)
    }
  }
  console.log(out.join(''))
}

main().catch(async (err) => {
  console.error(err)
  await killAll()
  process.exit(1)
})
