// Soak: lost saves and the unavailability window when a Sentinel-managed Redis master is SIGKILLed.
//
//   npx tsc -p . && nice node soak/failover.mjs [trials per mode=10] [replication delay ms=10]
//
// Each trial starts its own deployment (own processes on free ports, temporary directories, never the Redis on 6379):
// one master, one replica whose replication link runs through a proxy that delays master → replica traffic by the
// given milliseconds (the network between two machines or zones; on one host the replica would otherwise receive every
// write within microseconds), and three sentinels. A writer saves new sessions through RedisStore and an ioredis
// Sentinel client, eight at a time; after 500 ms the master is SIGKILLed and the proxy cut (what was in flight dies
// with the master's machine). Then: the time from the crash to the first successful load, and how many of the saves
// that resolved (were acknowledged to the app) cannot be loaded after the promotion — once without `durability`,
// once with `durability: { replicas: 1 }`. Not a test: figures for docs/redis.md.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'

const here = path.dirname(fileURLToPath(import.meta.url))
const { RedisStore } = await import(path.join(here, '../dist/index.js'))
const trials = Number(process.argv[2] ?? 10)
const delayMs = Number(process.argv[3] ?? 10)
const NAME = 'soak'
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function freePort () {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

/** A client that gives up at once: for probing servers that may be down. */
async function probe (port, ...command) {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 1000, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(...command)
  } catch {
    return null
  } finally {
    client.disconnect()
  }
}

async function until (ms, what, check) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(20)
  }
}

/** Starts redis-server (retrying on another port when the free port was taken meanwhile); resolves once it answers. */
async function startServer (dir, args, leading = []) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const child = spawn('redis-server', [...leading, '--port', String(port), '--bind', '127.0.0.1', ...args], { stdio: 'ignore' })
    let exited = false
    child.on('exit', () => { exited = true })
    try {
      await until(15_000, `redis-server on ${port}`, async () => {
        if (exited) throw new Error('exited')
        return await probe(port, 'PING') === 'PONG'
      })
      return { port, child }
    } catch (error) {
      child.kill('SIGKILL')
      if (attempt >= 5) throw error
    }
  }
}

/** Forwards replica → master at once and master → replica `delayMs` later; `cut()` drops everything in flight. */
async function delayingProxy (targetPort) {
  const sockets = new Set()
  const server = net.createServer((downstream) => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    sockets.add(downstream).add(upstream)
    downstream.pipe(upstream)
    upstream.on('data', (chunk) => { setTimeout(() => { if (!downstream.destroyed) downstream.write(chunk) }, delayMs) })
    for (const socket of [downstream, upstream]) socket.on('error', () => {}).on('close', () => { downstream.destroy(); upstream.destroy() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: server.address().port,
    cut () {
      server.close()
      for (const socket of sockets) socket.destroy()
    }
  }
}

async function deployment () {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'soak-failover-'))
  const base = ['--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', '--repl-diskless-sync-delay', '0']
  const processes = []
  const master = await startServer(dir, base)
  processes.push(master)
  const proxy = await delayingProxy(master.port)
  const replica = await startServer(dir, [...base, '--replicaof', '127.0.0.1', String(proxy.port)])
  processes.push(replica)
  await until(20_000, 'replica in sync', async () => /master_link_status:up/.test(await probe(replica.port, 'INFO', 'replication') ?? ''))
  const sentinels = []
  for (let i = 0; i < 3; i++) {
    const file = path.join(dir, `sentinel-${i}-${randomBytes(4).toString('hex')}.conf`)
    writeFileSync(file, [
      `dir ${dir}`,
      `sentinel monitor ${NAME} 127.0.0.1 ${master.port} 2`,
      `sentinel down-after-milliseconds ${NAME} 1000`,
      `sentinel failover-timeout ${NAME} 3000`,
      ''
    ].join('\n'))
    const sentinel = await startServer(dir, ['--loglevel', 'warning'], [file, '--sentinel'])
    processes.push(sentinel)
    sentinels.push({ host: '127.0.0.1', port: sentinel.port })
  }
  for (const { port } of sentinels) {
    await until(30_000, 'sentinels agree', async () =>
      (await probe(port, 'SENTINEL', 'REPLICAS', NAME))?.length === 1 && (await probe(port, 'SENTINEL', 'SENTINELS', NAME))?.length === 2)
  }
  return {
    sentinels,
    crash () {
      master.child.kill('SIGKILL')
      proxy.cut()
    },
    stop () {
      proxy.cut()
      for (const { child } of processes) child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function trial (durable) {
  const setup = await deployment()
  const client = new Redis({ sentinels: setup.sentinels, name: NAME })
  client.on('error', () => {})
  const store = new RedisStore({ client, timeout: 1000, ...(durable ? { durability: { replicas: 1, timeout: 1000 } } : {}) })
  const acknowledged = []
  let writing = true
  const writer = async () => {
    while (writing) {
      const id = randomBytes(16).toString('base64url')
      const now = Date.now()
      try {
        const saved = await store.save(id, { create: true, replace: true, set: new Map([['v', '"x"']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 3600 })
        if (saved) acknowledged.push(id)
      } catch {
        await sleep(20)
      }
    }
  }
  const writers = Array.from({ length: 8 }, writer)
  await sleep(500)
  const probeId = acknowledged[0]
  setup.crash()
  const crashedAt = performance.now()
  let window = null
  try {
    await until(60_000, 'first load after the crash', async () => {
      try {
        await store.load(probeId)
        window = performance.now() - crashedAt
        return true
      } catch {
        return false
      }
    })
  } finally {
    writing = false
    await Promise.all(writers)
  }
  let lost = 0
  for (const id of acknowledged) if (await store.load(id) === null) lost++
  await store.close()
  client.disconnect()
  setup.stop()
  return { acknowledged: acknowledged.length, lost, window }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

const results = {}
for (const durable of [false, true]) {
  const label = durable ? 'durability: { replicas: 1 }' : 'no durability'
  const runs = []
  for (let i = 0; i < trials; i++) {
    const run = await trial(durable)
    runs.push(run)
    console.log(`${label}, trial ${i + 1}: ${run.acknowledged} saves acknowledged, ${run.lost} lost, first load ${Math.round(run.window)} ms after the crash`)
  }
  results[label] = {
    trials,
    acknowledged: runs.reduce((sum, run) => sum + run.acknowledged, 0),
    lost: runs.reduce((sum, run) => sum + run.lost, 0),
    trialsWithLoss: runs.filter((run) => run.lost > 0).length,
    windowMedianMs: Math.round(median(runs.map((run) => run.window))),
    windowWorstMs: Math.round(Math.max(...runs.map((run) => run.window)))
  }
}
console.log(`\nreplication delay ${delayMs} ms, sentinel down-after-milliseconds 1000, store timeout 1000 ms, ${os.cpus().length} CPUs, Node ${process.version}`)
console.table(results)
