// Soak: MemoryStore under sustained creation of new sessions.
//
//   npx tsc -p . && node soak/memory.mjs [requests=200000]
//
// For each scenario, starts the server (this file, role `server`) pinned to CPU 1 and autocannon pinned to CPU 0,
// sends `requests` requests that each create a new session, in legs of 50,000, and prints what the server measured:
// after each leg the store size and the heap after a forced GC; for each leg the event-loop delay (p50/p99/max,
// perf_hooks.monitorEventLoopDelay, 10 ms resolution, read before the forced GC), the server's CPU time per request
// and the longest single store.save; and every expiry sweep, timed. Other load on the machine shows up in the
// event-loop delay (a descheduled process cannot run its timers), not in the CPU time or the store.save timings.
// Not a test: figures for docs/readme-hardening.md.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const SECRET = 'soak-secret-at-least-32-characters-long'
const MB = 1024 * 1024

const SCENARIOS = [
  { name: 'bounded: nothing expires (lifetime 0, gcTtl 1 day), maxSessions 50,000', lifetime: 0, maxSessions: 50_000 },
  { name: 'expiry: lifetime 2 s, default sweep (every 1 s, 2,000 entries), maxSessions 50,000', lifetime: 2, maxSessions: 50_000 },
  { name: 'expiry: lifetime 2 s, sweep every 100 ms, maxSessions 50,000', lifetime: 2, maxSessions: 50_000, sweepInterval: 100 }
]

if (process.argv[2] === 'server') await server(JSON.parse(process.argv[3]))
else await main(Number(process.argv[2] ?? 200_000))

async function server (config) {
  const [{ default: Fastify }, { default: plugin, MemoryStore }, { monitorEventLoopDelay }] = await Promise.all([
    import('fastify'), import(path.join(here, '../dist/index.js')), import('node:perf_hooks')
  ])
  const store = new MemoryStore({ maxSessions: config.maxSessions, ...(config.sweepInterval ? { sweepInterval: config.sweepInterval } : {}) })
  // Time every sweep the store's own timer runs, and count what it drops.
  const sweeps = { count: 0, dropped: 0, maxMs: 0, totalMs: 0 }
  const sweep = store.sweep.bind(store)
  store.sweep = () => {
    const before = store.size
    const started = performance.now()
    sweep()
    const ms = performance.now() - started
    sweeps.count++
    sweeps.dropped += before - store.size
    sweeps.totalMs += ms
    sweeps.maxMs = Math.max(sweeps.maxMs, ms)
  }
  let created = 0
  // The longest single store.save of each leg: an eviction or a sweep that blocks shows up here, CPU contention does not.
  let saveMaxMs = 0
  const save = store.save.bind(store)
  store.save = (id, update) => {
    const started = performance.now()
    const result = save(id, update)
    saveMaxMs = Math.max(saveMaxMs, performance.now() - started)
    return result
  }
  let cpu = process.cpuUsage()
  let legStart = created
  // Runs from start to end: disable()/enable() would not reset its last timestamp, so the gap would count as a delay.
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const ms = (ns) => +(ns / 1e6).toFixed(2)

  const app = Fastify()
  await app.register(plugin, { secret: SECRET, store, lifetime: config.lifetime, cookie: { secure: false } })
  app.get('/new', async (request) => {
    const session = await request.loadSession()
    session.set('userId', `user-${++created}`)
    session.set('csrf', randomBytes(16).toString('base64url'))
    return 'ok'
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const heap = async () => {
    globalThis.gc()
    // let the delay timer see the GC pause now, so that reset() drops it before the next leg
    await new Promise((resolve) => setTimeout(resolve, 50))
    return +(process.memoryUsage().heapUsed / MB).toFixed(1)
  }
  const idleHeapMB = await heap()
  process.on('message', async (message) => {
    if (message === 'leg-start') {
      delay.reset()
      saveMaxMs = 0
      cpu = process.cpuUsage()
      legStart = created
      process.send({ ready: true })
    } else if (message === 'leg-end') {
      // The delay of this leg is read before the forced GC that measures the heap.
      const eventLoopDelayMs = { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) }
      const used = process.cpuUsage(cpu)
      const cpuUsPerRequest = +((used.user + used.system) / Math.max(1, created - legStart)).toFixed(1)
      const sessions = store.size
      process.send({ requests: created, sessions, heapMB: await heap(), eventLoopDelayMs, cpuUsPerRequest, saveMaxMs: +saveMaxMs.toFixed(3) })
    } else if (message === 'stop') {
      process.send({ idleHeapMB, sessions: store.size, created, sweeps: { ...sweeps, maxMs: +sweeps.maxMs.toFixed(3), meanMs: +(sweeps.totalMs / Math.max(1, sweeps.count)).toFixed(3) } })
      await app.close()
      process.exit(0)
    }
  })
  process.send({ port: app.server.address().port })
}

function pinned (cpu, args, options) {
  return spawn('taskset', ['-c', String(cpu), ...args], options)
}

/** Sends `message` to the child and resolves with its answer. */
async function ask (child, message) {
  child.send(message)
  const [answer] = await once(child, 'message')
  return answer
}

async function main (requests, leg = 50_000) {
  console.log(`MemoryStore soak: ${requests} requests per scenario in legs of ${leg}, each request creating a new session`)
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; server on CPU 1, autocannon on CPU 0\n`)
  const results = []
  for (const scenario of SCENARIOS) {
    const child = pinned(1, [process.execPath, '--expose-gc', fileURLToPath(import.meta.url), 'server', JSON.stringify(scenario)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.on('exit', (code) => { if (code !== 0) { console.error(`server exited with ${code}`); process.exit(1) } })
    const [{ port }] = await once(child, 'message')
    const legs = []
    let seconds = 0
    let non2xx = 0
    let errors = 0
    for (let sent = 0; sent < requests; sent += leg) {
      await ask(child, 'leg-start')
      const load = pinned(0, [path.join(here, '../node_modules/.bin/autocannon'), '-a', String(Math.min(leg, requests - sent)), '-c', '64', '-j', `http://127.0.0.1:${port}/new`], { stdio: ['ignore', 'pipe', 'inherit'] })
      let output = ''
      load.stdout.on('data', (chunk) => { output += chunk })
      await once(load, 'exit')
      const cannon = JSON.parse(output)
      seconds += cannon.duration
      non2xx += cannon.non2xx
      errors += cannon.errors
      legs.push({ ...await ask(child, 'leg-end'), rps: Math.round(cannon.requests.average), latencyP99Ms: cannon.latency.p99 })
    }
    const end = await ask(child, 'stop')
    await once(child, 'exit')
    const max = Math.max(...legs.map((l) => l.eventLoopDelayMs.max))
    const p99 = Math.max(...legs.map((l) => l.eventLoopDelayMs.p99))
    const result = { scenario: scenario.name, requests: end.created, seconds: +seconds.toFixed(1), non2xx, errors, idleHeapMB: end.idleHeapMB, legs, worstLegP99Ms: p99, maxDelayMs: max, sweeps: end.sweeps, sessionsAtEnd: end.sessions }
    results.push(result)
    console.log(`## ${scenario.name}`)
    console.log(`${result.requests} sessions created in ${result.seconds} s, non-2xx ${non2xx}, errors ${errors}`)
    console.log(`heap after GC: idle ${result.idleHeapMB} MB; ${legs.map((l) => `${l.requests / 1000}k → ${l.heapMB} MB (${l.sessions} sessions)`).join('; ')}`)
    console.log(`event-loop delay per leg (p50/p99/max ms): ${legs.map((l) => `${l.eventLoopDelayMs.p50}/${l.eventLoopDelayMs.p99}/${l.eventLoopDelayMs.max}`).join('; ')}`)
    console.log(`server CPU per request (µs) per leg: ${legs.map((l) => l.cpuUsPerRequest).join('; ')}; longest store.save per leg (ms): ${legs.map((l) => l.saveMaxMs).join('; ')}`)
    console.log(`sweeps: ${result.sweeps.count}, dropped ${result.sweeps.dropped} expired sessions, longest ${result.sweeps.maxMs} ms, mean ${result.sweeps.meanMs} ms\n`)
  }
  console.log(JSON.stringify(results, null, 2))
}
