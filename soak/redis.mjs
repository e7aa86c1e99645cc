// Soak: RedisStore with 100,000 sessions on its own redis-server (a free port, no persistence, thrown away after).
//
//   npx tsc -p . && node soak/redis.mjs [sessions=100000]
//
// Half the sessions come from an app with `lifetime: 0` (browser-session cookie: the store's gcTtl bounds them),
// half from one with `lifetime: 14 days`. Then: every key must carry a TTL (SCAN + PTTL of every key); bytes per
// session (MEMORY USAGE of 1,000 random keys, and the INFO memory used_memory delta / sessions); and one round trip per
// load and per save (INFO commandstats diffs around 1,000 reads, 1,000 writes and 1,000 destroys).
// Not a test: figures for docs/readme-hardening.md. Never touches the Redis on 6379.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { Redis } from 'ioredis'

const here = path.dirname(fileURLToPath(import.meta.url))
const { default: plugin, RedisStore } = await import(path.join(here, '../dist/index.js'))
const SECRET = 'soak-secret-at-least-32-characters-long'
const total = Number(process.argv[2] ?? 100_000)

async function freePort () {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function startRedis () {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'soak-redis-'))
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' })
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true })
  // refused connections while the server starts: retried below
  client.on('error', () => {})
  for (let attempt = 0; ; attempt++) {
    try {
      await client.connect()
      await client.ping()
      break
    } catch (error) {
      if (attempt > 100) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return {
    port,
    client,
    async stop () {
      client.disconnect()
      child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function app (client, prefix, options) {
  const fastify = Fastify()
  await fastify.register(plugin, { secret: SECRET, store: new RedisStore({ client, prefix }), cookie: { secure: false }, ...options })
  // A typical signed-in session: a user ID, roles, a CSRF token, the login time.
  fastify.post('/login', async (request) => {
    const session = await request.loadSession()
    session.set('userId', `user-${randomBytes(6).toString('hex')}`)
    session.set('roles', ['user', 'editor'])
    session.set('csrf', randomBytes(16).toString('base64url'))
    session.set('loginAt', Date.now())
    return 'ok'
  })
  fastify.get('/read', async (request) => (await request.loadSession()).get('userId') ?? null)
  fastify.post('/write', async (request) => {
    (await request.loadSession()).set('lastSeenAt', Date.now())
    return 'ok'
  })
  fastify.post('/logout', async (request) => {
    await (await request.loadSession()).destroy()
    return 'ok'
  })
  await fastify.ready()
  return fastify
}

/** Runs `count` tasks, `width` at a time. */
async function pool (count, width, task) {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await task(next++)
  }))
}

async function usedMemory (client) {
  return Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1])
}

async function commandStats (client) {
  const stats = {}
  for (const [, name, calls] of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (name !== 'info' && !name.startsWith('config')) stats[name] = Number(calls)
  }
  return stats
}

const perCount = (counts, count) => Object.fromEntries(Object.entries(counts).sort().map(([name, calls]) => [name, +(calls / count).toFixed(3)]))

/**
 * For `count` requests of `run`, per request: the commands the client sent (round trips, from MONITOR, the commands
 * scripts ran left out) and every command the server ran (INFO commandstats, script-internal ones included).
 */
async function perRequest (client, monitor, count, run) {
  await client.config('RESETSTAT')
  const sent = {}
  const listener = (time, args, source) => {
    const name = String(args[0]).toLowerCase()
    if (source !== 'lua' && name !== 'info' && name !== 'config') sent[name] = (sent[name] ?? 0) + 1
  }
  monitor.on('monitor', listener)
  await pool(count, 32, run)
  // MONITOR lines arrive after the replies: wait for the INFO call of commandStats to come through too.
  const stats = await commandStats(client)
  await new Promise((resolve) => setTimeout(resolve, 200))
  monitor.off('monitor', listener)
  return { roundTrips: perCount(sent, count), serverCommands: perCount(stats, count) }
}

const redis = await startRedis()
const { client } = redis
const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1]
console.log(`RedisStore soak: ${total} sessions on redis-server ${version} (port ${redis.port})`)
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`)

try {
  const browser = await app(client, 'browser:', { lifetime: 0 })
  const fixed = await app(client, 'fixed:', { lifetime: 14 * 24 * 3600 })
  const before = await usedMemory(client)
  const cookies = []
  const started = Date.now()
  await pool(total, 64, async (i) => {
    const response = await (i % 2 === 0 ? browser : fixed).inject({ method: 'POST', url: '/login' })
    if (i < 2000 && i % 2 === 0) cookies.push(String(response.headers['set-cookie']).split(';')[0])
  })
  const seconds = (Date.now() - started) / 1000
  const after = await usedMemory(client)
  const keys = await client.dbsize()
  console.log(`created ${total} sessions in ${seconds.toFixed(1)} s through app.inject (${Math.round(total / seconds)}/s); DBSIZE ${keys}`)

  // Every key has a TTL: PTTL of every key, in pipelined batches over a full SCAN.
  const ttl = { scanned: 0, withoutTtl: 0, browser: { min: Infinity, max: 0 }, fixed: { min: Infinity, max: 0 } }
  let cursor = '0'
  do {
    const [next, batch] = await client.scan(cursor, 'COUNT', 1000)
    cursor = next
    const pipeline = client.pipeline()
    for (const key of batch) pipeline.pttl(key)
    const replies = await pipeline.exec()
    batch.forEach((key, i) => {
      const ms = Number(replies?.[i]?.[1])
      ttl.scanned++
      if (!(ms > 0)) ttl.withoutTtl++
      const range = key.startsWith('browser:') ? ttl.browser : ttl.fixed
      range.min = Math.min(range.min, ms)
      range.max = Math.max(range.max, ms)
    })
  } while (cursor !== '0')
  const hours = (ms) => (ms / 3_600_000).toFixed(2) + ' h'
  console.log(`TTL: scanned ${ttl.scanned} keys, ${ttl.withoutTtl} without a TTL; lifetime 0 → PTTL ${hours(ttl.browser.min)}…${hours(ttl.browser.max)} (gcTtl); lifetime 14 d → ${hours(ttl.fixed.min)}…${hours(ttl.fixed.max)}`)

  // Bytes per session.
  const sizes = []
  for (let i = 0; i < 1000; i++) {
    const key = await client.randomkey()
    if (key !== null) sizes.push(Number(await client.memory('USAGE', key, 'SAMPLES', '0')))
  }
  sizes.sort((a, b) => a - b)
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length
  const field = await client.hgetall(String(await client.randomkey()))
  console.log(`bytes per session: MEMORY USAGE of ${sizes.length} random keys mean ${mean.toFixed(0)} (min ${sizes[0]}, max ${sizes.at(-1)}); used_memory delta ${after - before} B / ${total} = ${((after - before) / total).toFixed(0)} B`)
  console.log(`one hash per session, fields: ${Object.keys(field).join(', ')}`)

  // Round trips: MONITOR (what the client sent) and INFO commandstats (what the server ran) around known requests.
  const monitor = await client.duplicate().monitor()
  const sample = cookies.slice(0, 1000)
  const reads = await perRequest(client, monitor, sample.length, async (i) => { await browser.inject({ url: '/read', headers: { cookie: sample[i] } }) })
  const writes = await perRequest(client, monitor, sample.length, async (i) => { await browser.inject({ method: 'POST', url: '/write', headers: { cookie: sample[i] } }) })
  const destroys = await perRequest(client, monitor, sample.length, async (i) => { await browser.inject({ method: 'POST', url: '/logout', headers: { cookie: sample[i] } }) })
  monitor.disconnect()
  console.log(`per request, ${sample.length} requests each — commands sent (MONITOR) | commands the server ran, scripts' included (INFO commandstats):`)
  for (const [name, result] of [['read (load only)', reads], ['write (load + save)', writes], ['logout (load + destroy)', destroys]]) {
    console.log(`  ${name}: ${JSON.stringify(result.roundTrips)} | ${JSON.stringify(result.serverCommands)}`)
  }
  console.log(JSON.stringify({ total, seconds, keys, ttl, bytes: { meanMemoryUsage: Math.round(mean), min: sizes[0], max: sizes.at(-1), usedMemoryPerSession: Math.round((after - before) / total) }, reads, writes, destroys }, null, 2))
  await browser.close()
  await fixed.close()
} finally {
  await redis.stop()
}
