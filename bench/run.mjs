// `npm run bench` (after `npm run build`): HTTP throughput of fastify-lazy-session against bare
// Fastify, a Redis floor and the peer session plugins, then the micro-benchmarks (bench/micro.mjs).
//
// Every subject runs in its own server process pinned to one core (taskset -c 1); autocannon runs in
// another process pinned to the other core (taskset -c 0). After a warm-up of every subject × route,
// rounds are interleaved (round 1: A B C …, round 2: A B C …) so machine drift hits every subject
// alike. Bare Fastify is measured again after every two subjects (B S1 S2 B S3 S4 B …): the table reports the
// median req/s per cell, and every ratio is a median over the rounds of ratios to the bare sample measured right
// next to each sample, so a slow or fast phase of the machine (seconds long on shared VMs) cancels out.
//
// Then the latency table: every subject × route at a fixed rate (autocannon overallRate) of BENCH_LATENCY_RATE of bare
// Fastify's median throughput on that route, p50 / p99 / max; then memory per session (bench/memory.mjs) and the
// micro-benchmarks. Progress (subject, route, round, elapsed / estimated) goes to stderr, the report to stdout and
// BENCH_OUTPUT.
//
// Environment (defaults in brackets; BENCH_QUICK=1 gives a ~3 minute developer's run, wider error bars):
//   BENCH_DURATION [1.5] seconds per measurement        BENCH_ROUNDS [7]      interleaved rounds
//   BENCH_WARMUP [2]     seconds of warm-up per cell    BENCH_CONNECTIONS [50]
//   BENCH_REWARM [0.5]   seconds of discarded load right before every sample (caches warm, however often a subject runs)
//   BENCH_PIPELINING [1] (browsers and proxies do not pipeline; see the README, Benchmarks)
//   BENCH_PAUSE_MS [250] pause between measurements
//   BENCH_MAX_FOREIGN [0.15] cores other processes may use during a measurement before it is repeated
//   BENCH_RETRIES [2]    repeats of a measurement disturbed by other processes (0 in quick mode)
//   BENCH_QUIET_BUDGET [60] seconds the whole run may spend waiting for the machine to be quiet
//   BENCH_SUBJECTS       comma list (see bench/harness.mjs SUBJECTS), default all
//   BENCH_ROUTES         comma list of none,read,write, default all
//   BENCH_SERVER_CPU [1] BENCH_LOAD_CPU [0] BENCH_REDIS_CPU [0]   BENCH_NO_PIN=1 to run unpinned
//   BENCH_SESSIONS [1]   distinct sessions the requests cycle through (1 = every request carries the same cookie)
//   BENCH_LATENCY [1]    0 skips the latency table     BENCH_LATENCY_DURATION [4] seconds per cell
//   BENCH_LATENCY_RATE [0.5] share of bare's median req/s (per route) sent to every subject
//   BENCH_LATENCY_REWARM [BENCH_REWARM; quick 0] seconds of discarded load before each latency cell
//   BENCH_MEMORY [1]     0 skips memory per session (bench/memory.mjs)
//   BENCH_MICRO [1]      0 skips the micro-benchmarks
//   BENCH_OUTPUT [bench/results/latest.md]
//
// Also writes bench/results/latest.json (raw samples) and bench/results/latest.svg (the chart, bench/chart.mjs).

import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { writeChart } from './chart.mjs'
import {
  SUBJECTS, ROUTES, RESULTS_DIR, ROOT_DIR, BENCH_DIR, ensureDirs, installCleanup, killAll, canPin, pinned, pinPid,
  startRedis, startServer, prepareSession, LoadWorker, cpuSeconds, machineBusySeconds, machineInfo, distAvailable, median, sleep, track
} from './harness.mjs'

const env = process.env
const QUICK = env.BENCH_QUICK === '1'
const num = (name, dflt) => {
  const v = env[name]
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(v)}`)
  return n
}
const list = (name, all) => {
  const v = env[name]
  if (!v) return all
  const wanted = v.split(',').map((s) => s.trim()).filter(Boolean)
  const unknown = wanted.filter((w) => !all.includes(w))
  if (unknown.length) throw new Error(`${name}: unknown ${unknown.join(', ')} (known: ${all.join(', ')})`)
  return all.filter((a) => wanted.includes(a))
}

const config = {
  quick: QUICK,
  maxForeign: num('BENCH_MAX_FOREIGN', 0.15),
  retries: Math.floor(num('BENCH_RETRIES', QUICK ? 0 : 2)),
  quietBudget: num('BENCH_QUIET_BUDGET', QUICK ? 10 : 60),
  duration: num('BENCH_DURATION', QUICK ? 1 : 1.5),
  rounds: Math.max(1, Math.floor(num('BENCH_ROUNDS', QUICK ? 1 : 7))),
  // quick: no separate warm-up, the re-warm before every sample warms each cell
  warmup: num('BENCH_WARMUP', QUICK ? 0 : 2),
  rewarm: num('BENCH_REWARM', QUICK ? 0.3 : 0.5),
  connections: Math.max(1, Math.floor(num('BENCH_CONNECTIONS', 50))),
  pipelining: Math.max(1, Math.floor(num('BENCH_PIPELINING', 1))),
  pauseMs: num('BENCH_PAUSE_MS', QUICK ? 100 : 250),
  serverCpu: num('BENCH_SERVER_CPU', 1),
  loadCpu: num('BENCH_LOAD_CPU', 0),
  redisCpu: num('BENCH_REDIS_CPU', 0),
  micro: env.BENCH_MICRO !== '0',
  memory: env.BENCH_MEMORY !== '0',
  latency: env.BENCH_LATENCY !== '0',
  latencyDuration: num('BENCH_LATENCY_DURATION', QUICK ? 1 : 4),
  latencyRate: num('BENCH_LATENCY_RATE', 0.5),
  // quick: the latency cells follow the rounds closely enough to skip their re-warm
  latencyRewarm: num('BENCH_LATENCY_REWARM', QUICK ? 0 : num('BENCH_REWARM', 0.5)),
  sessions: Math.min(100_000, Math.max(1, Math.floor(num('BENCH_SESSIONS', 1)))),
  output: env.BENCH_OUTPUT || join(RESULTS_DIR, 'latest.md'),
  subjects: list('BENCH_SUBJECTS', SUBJECTS.map((s) => s.name)),
  routes: list('BENCH_ROUTES', ROUTES)
}
if (config.duration <= 0) throw new Error('BENCH_DURATION must be > 0')

const log = (...args) => console.error(...args)
const fmt = (n) => (n == null ? '—' : Math.round(n).toLocaleString('en-US'))
const fmtRatio = (r) => (r == null ? '—' : r.toFixed(2) + '×')
const clock = (sec) => `${Math.floor(sec / 60)}:${String(Math.round(sec % 60)).padStart(2, '0')}`

/**
 * Elapsed / estimated time of the whole run for the progress lines: the planned seconds of load (plus pauses) of
 * every step, scaled by how long the steps done so far really took (start-up, waits for a quiet machine, …).
 */
const progress = {
  started: Date.now(),
  /** when the load began (after the servers started) */
  loadStarted: null,
  planned: 0,
  done: 0,
  plan (seconds) { this.planned += seconds },
  step (seconds) { this.done += seconds },
  text () {
    const now = Date.now()
    const elapsed = (now - this.started) / 1000
    const pace = this.done > 0 && this.loadStarted ? (now - this.loadStarted) / 1000 / this.done : null
    const estimate = pace == null ? null : elapsed + Math.max(0, this.planned - this.done) * pace
    return `${clock(elapsed)} / ~${estimate == null ? '?' : clock(estimate)}`
  }
}

async function main () {
  ensureDirs()
  installCleanup()
  const machine = machineInfo() // before pinning ourselves: nproc counts the CPUs we may run on
  const pinning = canPin()
  if (pinning) pinPid(process.pid, config.loadCpu)
  const started = Date.now()

  log(`bench: ${machine.nproc} CPUs (${machine.model}), Node ${machine.node}`)
  if (!pinning) log('bench: WARNING taskset is not available (or BENCH_NO_PIN=1 / < 2 CPUs): running UNPINNED, numbers are noisier')
  else log(`bench: servers on CPU ${config.serverCpu}, autocannon on CPU ${config.loadCpu}, redis-server on CPU ${config.redisCpu}`)
  log(`bench: ${config.rounds} rounds × ${config.duration}s, warm-up ${config.warmup}s, ${config.connections} connections, pipelining ${config.pipelining}${QUICK ? ' (BENCH_QUICK)' : ''}`)

  const notes = []
  let subjects = SUBJECTS.filter((s) => config.subjects.includes(s.name))
  if (!distAvailable() && subjects.some((s) => s.needsDist)) {
    const skipped = subjects.filter((s) => s.needsDist).map((s) => s.name)
    notes.push(`dist/index.js is missing (run \`npm run build\`): skipped ${skipped.join(', ')}.`)
    log(`bench: WARNING dist/index.js missing, skipping ${skipped.join(', ')}`)
    subjects = subjects.filter((s) => !s.needsDist)
  }

  let redis = null
  if (subjects.some((s) => s.needsRedis)) {
    redis = await startRedis({ cpu: config.redisCpu })
    log(`bench: redis-server on port ${redis.port} (no persistence)`)
  }

  // Start every subject's server and capture a valid session cookie.
  const live = []
  for (const meta of subjects) {
    try {
      const server = await startServer(meta.name, { cpu: config.serverCpu, redisUrl: redis?.url ?? '' })
      const session = await prepareSession(server, meta, config.sessions)
      const perRoute = () => Object.fromEntries(config.routes.map((r) => [r, []]))
      // ref / refCpu: the sample of bare Fastify measured next to this subject's sample, one per round
      live.push({ meta, server, ...session, samples: perRoute(), cpu: perRoute(), ref: perRoute(), refCpu: perRoute(), problems: [] })
      log(`bench: ${meta.name} listening on ${server.port}, cookie ${session.cookie.length} bytes${config.sessions > 1 ? `, ${session.cookies.length} sessions` : ''}`)
    } catch (err) {
      notes.push(`${meta.name} could not run: ${String(err.message).split('\n')[0]}`)
      log(`bench: ERROR ${err.message}`)
    }
  }
  if (live.length === 0) throw new Error('no subject could start')

  const worker = new LoadWorker({ cpu: config.loadCpu })
  worker.start()

  // What the run will do, for the elapsed / estimated time of the progress lines.
  // Seconds a measurement takes beyond its duration (IPC, autocannon's start and end), seen on the shared 2-CPU VM.
  const overhead = 0.5
  const pause = config.pauseMs / 1000 + overhead
  const cellSeconds = config.rewarm + config.duration + pause + (config.rewarm > 0 ? overhead : 0)
  const latencyCellSeconds = config.latencyRewarm + config.latencyDuration + pause + (config.latencyRewarm > 0 ? overhead : 0)
  const othersCount = live.filter((s) => s.meta.name !== 'bare').length
  const refCount = live.some((s) => s.meta.name === 'bare') ? 1 + Math.floor(othersCount / 2) : 0
  if (config.warmup > 0) progress.plan(live.length * config.routes.length * (config.warmup + pause))
  progress.plan(config.rounds * config.routes.length * (othersCount + refCount) * cellSeconds)
  const latencyOn = config.latency && live.some((s) => s.meta.name === 'bare')
  if (latencyOn) progress.plan(config.routes.length * live.length * latencyCellSeconds)
  // memory per session and micro-benchmarks: roughly
  if (config.memory) progress.plan(QUICK ? 15 : 40)
  if (config.micro) progress.plan(QUICK ? 20 : 90)
  progress.loadStarted = Date.now()

  // CPU time of every process of ours, to tell our load from other users' on a shared machine.
  const ourCpu = (s) => [s?.server.pid, worker.pid, redis?.pid, process.pid]
    .filter(Boolean).reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0)
  const foreignSince = (busy0, ours0, s, wall) => {
    const busy1 = machineBusySeconds()
    if (busy0 == null || busy1 == null) return null
    return Math.max(0, (busy1 - busy0) - (ourCpu(s) - ours0)) / wall
  }
  let quietBudget = config.quietBudget
  /** Waits (within the run's overall budget) until other processes use less than maxForeign cores. */
  async function waitQuiet () {
    const t0 = Date.now()
    while (quietBudget > 0) {
      const busy0 = machineBusySeconds()
      const ours0 = ourCpu(null)
      const w0 = Date.now()
      await sleep(500)
      const foreign = foreignSince(busy0, ours0, null, (Date.now() - w0) / 1000)
      quietBudget -= (Date.now() - w0) / 1000
      if (foreign == null || foreign <= config.maxForeign) break
    }
    return (Date.now() - t0) / 1000
  }

  const stats = { measurements: 0, retried: 0, noisy: 0, waited: 0, foreign: [] }
  async function measure (s, route, duration, { retry = true, rate = null } = {}) {
    for (let attempt = 0; ; attempt++) {
      if (!s.server.alive()) throw new Error('server process died')
      if (attempt > 0) stats.waited += await waitQuiet()
      const before = cpuSeconds(s.server.pid)
      const busy0 = machineBusySeconds()
      const ours0 = ourCpu(s)
      const t0 = process.hrtime.bigint()
      const r = await worker.run({
        url: `http://127.0.0.1:${s.server.port}/${route}`,
        connections: config.connections,
        pipelining: config.pipelining,
        duration,
        headers: { cookie: s.cookie },
        cookies: s.cookies.length > 1 ? s.cookies : undefined,
        overallRate: rate ?? undefined
      })
      const wall = Number(process.hrtime.bigint() - t0) / 1e9
      const after = cpuSeconds(s.server.pid)
      r.serverCpu = before != null && after != null ? (after - before) / wall : null
      r.foreign = foreignSince(busy0, ours0, s, wall)
      if (r.errors || r.non2xx || r.timeouts) s.problems.push(`/${route}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`)
      const noisy = r.foreign != null && r.foreign > config.maxForeign
      if (!retry || !noisy || attempt >= config.retries || quietBudget <= 0) {
        if (retry) {
          stats.measurements++
          if (attempt > 0) stats.retried++
          if (noisy) stats.noisy++
          if (r.foreign != null) stats.foreign.push(r.foreign)
        }
        r.noisy = noisy
        return r
      }
      log(`  (other processes used ${r.foreign.toFixed(2)} cores during /${route} ${s.meta.name}: measuring again)`)
    }
  }

  // Warm-up: every cell once, results discarded.
  if (config.warmup > 0) {
    log('bench: warm-up…')
    for (const s of live) {
      for (const route of config.routes) {
        log(`bench: warm-up /${route} ${s.meta.name}  [${progress.text()}]`)
        try { await measure(s, route, config.warmup, { retry: false }) } catch (err) { s.problems.push(`warm-up /${route}: ${err.message}`) }
        await sleep(config.pauseMs)
        progress.step(config.warmup + pause)
      }
    }
  }

  /** One measurement of `s` in this round: its req/s and req/s per server CPU-second, or nulls (a hole). */
  async function sample (s, route, round) {
    try {
      // Re-warm, discarded: a server that ran a moment ago has warm caches, one that waited half a minute has not,
      // and bare Fastify runs far more often than the others.
      if (config.rewarm > 0) await measure(s, route, config.rewarm, { retry: false })
      const r = await measure(s, route, config.duration)
      progress.step(cellSeconds)
      log(`[round ${round}/${config.rounds}] /${route.padEnd(5)} ${s.meta.name.padEnd(16)} ${fmt(r.rps).padStart(7)} req/s  p99 ${r.latencyP99} ms  server CPU ${r.serverCpu == null ? '?' : Math.round(r.serverCpu * 100) + '%'}  others ${r.foreign == null ? '?' : r.foreign.toFixed(2) + ' cores'}${r.noisy ? ' (noisy)' : ''}  [${progress.text()}]`)
      return { rps: r.rps, cpu: r.serverCpu }
    } catch (err) {
      progress.step(cellSeconds)
      s.problems.push(`round ${round} /${route}: ${err.message}`)
      log(`[round ${round}/${config.rounds}] /${route} ${s.meta.name}: ERROR ${err.message}  [${progress.text()}]`)
      return { rps: null, cpu: null }
    } finally {
      await sleep(config.pauseMs)
    }
  }
  const perCpuOf = (m) => (m.rps != null && m.cpu ? m.rps / m.cpu : null)

  // Interleaved rounds. The machine's speed changes within seconds on shared VMs, so bare Fastify (the
  // reference) is measured again after every two subjects: B S1 S2 B S3 S4 B …, and each subject's sample is
  // paired with the bare sample right next to it (S1 with the B before it, S2 with the B after it).
  const ref = live.find((s) => s.meta.name === 'bare') ?? null
  for (let round = 1; round <= config.rounds; round++) {
    for (const route of config.routes) {
      // Rotate the starting subject each round so none is always first after a route change.
      const others = live.filter((s) => s !== ref)
      const order = others.map((_, i) => others[(i + round - 1) % others.length])
      const measureRef = async () => {
        const b = await sample(ref, route, round)
        ref.samples[route].push(b.rps)
        ref.cpu[route].push(b.cpu)
        return b
      }
      let last = ref ? await measureRef() : null
      for (let k = 0; k < order.length; k += 2) {
        const [s1, s2] = order.slice(k, k + 2)
        const before = last
        const first = await sample(s1, route, round)
        const second = s2 ? await sample(s2, route, round) : null
        if (ref && s2) last = await measureRef()
        for (const [s, m, b] of [[s1, first, before], [s2, second, last]]) {
          if (!s) continue
          s.samples[route].push(m.rps)
          s.cpu[route].push(m.cpu)
          s.ref[route].push(b?.rps ?? null)
          s.refCpu[route].push(b ? perCpuOf(b) : null)
        }
      }
    }
  }

  // Latency at a fixed rate: every subject gets the same request rate, half of what bare Fastify serves on that
  // route, so the table compares the time a request takes when the server is not saturated (where tail latency
  // is what users feel), not queueing. A subject slower than the rate is saturated: its row says so.
  for (const s of live) s.latency = {}
  if (latencyOn) {
    for (const route of config.routes) {
      const bareRps = median(ref.samples[route])
      if (!bareRps) continue
      const rate = Math.max(1, Math.round(bareRps * config.latencyRate))
      for (const s of live) {
        try {
          if (config.latencyRewarm > 0) await measure(s, route, config.latencyRewarm, { retry: false })
          const r = await measure(s, route, config.latencyDuration, { rate })
          s.latency[route] = { rate, rps: r.rps, p50: r.latencyP50, p99: r.latencyP99, max: r.latencyMax, noisy: r.noisy }
          log(`[latency] /${route.padEnd(5)} ${s.meta.name.padEnd(16)} at ${fmt(rate)} req/s: p50 ${r.latencyP50} ms, p99 ${r.latencyP99} ms, max ${r.latencyMax} ms${r.rps < rate * 0.95 ? ` (saturated: ${fmt(r.rps)} req/s)` : ''}  [${progress.text()}]`)
        } catch (err) {
          s.problems.push(`latency /${route}: ${err.message}`)
        } finally {
          await sleep(config.pauseMs)
          progress.step(latencyCellSeconds)
        }
      }
    }
  }

  worker.stop()
  await Promise.all(live.map((s) => s.server.stop()))
  if (redis) await redis.stop()
  await killAll()

  const report = buildReport({ live, machine, notes, pinning, stats, seconds: (Date.now() - started) / 1000 })
  let memory = ''
  if (config.memory) {
    log(`bench: memory per session…  [${progress.text()}]`)
    memory = await runChild('memory.mjs', 5 * 60_000)
    progress.step(QUICK ? 15 : 40)
  }
  let micro = ''
  if (config.micro) {
    log(`bench: micro-benchmarks…  [${progress.text()}]`)
    micro = await runChild('micro.mjs', 10 * 60_000)
  }
  writeFileSync(join(RESULTS_DIR, 'latest.json'), JSON.stringify({
    date: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    config,
    machine,
    pinned: pinning,
    stats,
    subjects: live.map((s) => ({ name: s.meta.name, label: s.meta.label, samples: s.samples, serverCpu: s.cpu, ref: s.ref, refCpu: s.refCpu, latency: s.latency, setCookieOn: s.setCookieOn, problems: s.problems })),
    memory,
    micro
  }, null, 2))
  const text = report + (memory ? '\n' + memory : '') + (micro ? '\n' + micro : '')
  writeFileSync(config.output, text)
  writeChart(join(RESULTS_DIR, 'latest.json'), join(RESULTS_DIR, 'latest.svg'))
  console.log(text)
  log(`bench: written to ${relative(ROOT_DIR, config.output)}, chart ${relative(ROOT_DIR, join(RESULTS_DIR, 'latest.svg'))} (${Math.round((Date.now() - started) / 1000)} s)`)
}

/** Runs bench/<file> (micro.mjs, memory.mjs) pinned to the server core, with --expose-gc, and returns its Markdown. */
function runChild (file, timeoutMs) {
  const [cmd, args] = pinned(config.serverCpu, process.execPath, ['--expose-gc', join(BENCH_DIR, file)])
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } })
    track(child)
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) out += `\n_bench/${file} failed (exit ${code})._\n`
      resolve(out)
    })
    child.on('error', (err) => { clearTimeout(timer); resolve(`\n_bench/${file} could not start: ${err.message}_\n`) })
  })
}

// ---------------------------------------------------------------------------------------------
// Report

// Second-round targets (issue 16); the first round's are all lower.
const TARGETS = [
  { subject: 'lazy-memory', route: 'none', base: 'bare', min: 0.97, what: 'never-loads route (MemoryStore)' },
  { subject: 'lazy-cookie', route: 'none', base: 'bare', min: 0.97, what: 'never-loads route (CookieStore)' },
  { subject: 'lazy-redis', route: 'none', base: 'bare', min: 0.97, what: 'never-loads route (RedisStore)' },
  { subject: 'lazy-memory', route: 'read', base: 'bare', min: 0.90, what: 'MemoryStore read' },
  { subject: 'lazy-memory', route: 'write', base: 'bare', min: 0.85, what: 'MemoryStore write' },
  { subject: 'lazy-cookie', route: 'read', base: 'bare', min: 0.90, what: 'CookieStore read' },
  { subject: 'lazy-cookie', route: 'write', base: 'bare', min: 0.70, what: 'CookieStore write' },
  { subject: 'lazy-cookie', route: 'write', base: 'secure-session', min: 1.15, what: 'CookieStore write vs the peer' },
  { subject: 'lazy-redis', route: 'read', base: 'redis-floor', min: 1.00, what: 'RedisStore read' },
  { subject: 'lazy-redis', route: 'write', base: 'redis-floor', min: 1.00, what: 'RedisStore write' }
]
/** p99 at the fixed rate: at most this many times bare Fastify's, and below every peer's on the same kind of store. */
const P99_MAX_VS_BARE = 1.25

function buildReport ({ live, machine, notes, pinning, stats, seconds, date = new Date().toISOString() }) {
  const routes = config.routes
  const by = Object.fromEntries(live.map((s) => [s.meta.name, s]))
  const med = (name, route) => (by[name] ? median(by[name].samples[route]) : null)
  // Requests per server CPU-second: the server-side cost, less sensitive to an unsaturated server core.
  const perCpu = (name, route) => {
    const s = by[name]
    return s ? s.samples[route].map((rps, i) => (rps != null && s.cpu[route][i] ? rps / s.cpu[route][i] : null)) : null
  }
  const capacity = (name, route) => median(perCpu(name, route) ?? [])
  const perRound = (xs, ys) => xs.map((x, i) => (x != null && ys[i] ? x / ys[i] : null))
  // A subject's samples over the bare Fastify sample measured next to each (one per round), or null without them.
  const normalised = (name, route, cpu) => {
    const s = by[name]
    const refs = cpu ? s.refCpu?.[route] : s.ref?.[route]
    return refs?.some((x) => x != null) ? perRound(cpu ? perCpu(name, route) : s.samples[route], refs) : null
  }
  // A over B, round by round: A's sample over the bare sample next to it, over the same for B (B = bare: just A's
  // normalised sample), so that a slow or fast phase of a shared machine cancels out. Without bare in the run, A's
  // sample over B's sample of the same round.
  const ratios = (a, b, route, cpu = false) => {
    if (!by[a] || !by[b]) return []
    const na = normalised(a, route, cpu)
    if (na && b === 'bare') return na
    const nb = normalised(b, route, cpu)
    if (na && nb) return perRound(na, nb)
    return perRound(cpu ? perCpu(a, route) : by[a].samples[route], cpu ? perCpu(b, route) : by[b].samples[route])
  }
  const rel = (a, b, route, cpu = false) => median(ratios(a, b, route, cpu))
  // Round-to-round spread: half the interquartile range relative to the median (robust to one disturbed round).
  const spread = (name, route) => spreadOf(by[name]?.samples[route] ?? [])
  const spreadOf = (values) => {
    const xs = values.filter(Number.isFinite).sort((a, b) => a - b)
    const m = median(xs)
    if (!m || xs.length < 2) return null
    const q = (p) => {
      const i = (xs.length - 1) * p
      const lo = Math.floor(i)
      return xs[lo] + (xs[Math.min(lo + 1, xs.length - 1)] - xs[lo]) * (i - lo)
    }
    return (q(0.75) - q(0.25)) / 2 / m
  }
  const head = (first) => `| ${first} | ${routes.map((r) => `GET /${r}`).join(' | ')} |\n|---|${routes.map(() => '--:').join('|')}|\n`
  const L = []

  L.push('## HTTP throughput\n\n')
  L.push(`Median req/s of ${config.rounds} interleaved round${config.rounds > 1 ? 's' : ''} × ${config.duration} s ` +
    `(after ${config.warmup} s warm-up per cell), autocannon ${config.connections} connections, pipelining ${config.pipelining}, ` +
    (config.sessions > 1 ? `requests cycling through ${config.sessions.toLocaleString('en-US')} valid sessions` : 'every request carrying a valid session cookie') +
    '. ± is half the interquartile range across rounds, relative to the median. ' +
    (by.bare?.ref
      ? 'Bare Fastify is measured again after every two subjects, and every ratio below is a median over the rounds of ' +
        'ratios to the bare sample measured next to each sample (A/B = (A/bare beside A) / (B/bare beside B)), so that a ' +
        'slow or fast phase of the machine cancels out; it can differ from the ratio of the medians above.\n\n'
      : 'Every ratio below is the median of the per-round ratios (the two subjects\' samples of the same round).\n\n'))
  L.push(`Machine: ${machine.nproc} CPUs, ${machine.model}, Node ${machine.node}, ${machine.os}, redis-server ${machine.redis}. ` +
    (pinning
      ? `Each server pinned to CPU ${config.serverCpu}, autocannon to CPU ${config.loadCpu}, redis-server to CPU ${config.redisCpu} (taskset).`
      : '**Unpinned** (taskset unavailable): numbers are noisier.') + ` ${date.slice(0, 10)}, run took ${Math.round(seconds)} s.\n\n`)

  L.push(head('subject'))
  for (const s of live) {
    L.push(`| ${s.meta.label} | ${routes.map((r) => {
      const m = med(s.meta.name, r)
      const sp = spread(s.meta.name, r)
      return m == null ? '✗' : `${fmt(m)}${sp == null ? '' : ` ±${(sp * 100).toFixed(1)}%`}`
    }).join(' | ')} |\n`)
  }

  L.push('\n### Ratios vs bare Fastify\n\n')
  L.push(head('subject'))
  for (const s of live) {
    if (s.meta.name === 'bare') continue
    L.push(`| ${s.meta.label} | ${routes.map((r) => fmtRatio(rel(s.meta.name, 'bare', r))).join(' | ')} |\n`)
  }

  const redisBacked = live.filter((s) => s.meta.store === 'redis' && s.meta.group !== 'floor')
  if (by['redis-floor'] && redisBacked.length) {
    L.push('\n### Ratios vs the Redis floor\n\n')
    L.push(head('Redis-backed subject'))
    for (const s of redisBacked) {
      L.push(`| ${s.meta.label} | ${routes.map((r) => fmtRatio(rel(s.meta.name, 'redis-floor', r))).join(' | ')} |\n`)
    }
  }

  const pairs = []
  for (const ours of live.filter((s) => s.meta.group === 'lazy')) {
    for (const peer of live.filter((s) => s.meta.group === 'peer' && s.meta.store === ours.meta.store)) pairs.push([ours, peer])
  }
  if (pairs.length) {
    L.push('\n### fastify-lazy-session vs each peer (same kind of store; > 1 = ours faster)\n\n')
    L.push(head('comparison'))
    for (const [ours, peer] of pairs) {
      L.push(`| ${ours.meta.label.replace('fastify-lazy-session · ', 'lazy ')} vs ${peer.meta.label} | ${routes.map((r) => fmtRatio(rel(ours.meta.name, peer.meta.name, r))).join(' | ')} |\n`)
    }
  }

  L.push('\n### Targets\n\nThe last column is the same ratio computed on requests per server CPU-second (see below).\n\n')
  L.push('| target | measured | required | | per server CPU-second |\n|---|--:|--:|---|--:|\n')
  const targetResults = []
  for (const t of TARGETS) {
    if (!routes.includes(t.route) || !by[t.subject] || !by[t.base]) continue
    const r = rel(t.subject, t.base, t.route)
    const ok = r != null && r >= t.min
    // Borderline when the verdict could flip within the round-to-round spread of the per-round ratios.
    const noise = spreadOf(ratios(t.subject, t.base, t.route)) ?? 0
    const borderline = r != null && Math.abs(r - t.min) / t.min < noise
    targetResults.push({ ...t, r, ok })
    const rc = rel(t.subject, t.base, t.route, true)
    L.push(`| ${t.what}: ${t.subject} /${t.route} vs ${t.base} | ${fmtRatio(r)} | ≥ ${t.min.toFixed(2)}× | ${ok ? 'PASS' : 'FAIL'}${borderline ? ' (within noise)' : ''} | ${fmtRatio(rc)} |\n`)
  }

  const withLatency = live.filter((s) => s.latency && Object.keys(s.latency).length)
  if (withLatency.length) {
    const lat = (s, r) => s.latency?.[r]
    const rates = routes.map((r) => by.bare?.latency?.[r]?.rate ?? lat(withLatency[0], r)?.rate)
    L.push(`\n### Latency at a fixed rate (${Math.round(config.latencyRate * 100)} % of bare Fastify's median throughput per route)\n\n`)
    L.push(`autocannon \`overallRate\` ${routes.map((r, i) => `/${r} ${fmt(rates[i])} req/s`).join(', ')}, ${config.connections} connections, ` +
      `${config.latencyDuration} s per cell, once per subject and route (not repeated: one busy moment of the machine shows up as a high max). ` +
      'p50 / p99 / max in ms; the ratio is the p99 over bare Fastify\'s p99 on the same route. "sat." marks a subject that could not keep up with the rate (its latency is queueing).\n\n')
    L.push(head('subject (p50 / p99 / max ms, p99 vs bare)'))
    for (const s of withLatency) {
      L.push(`| ${s.meta.label} | ${routes.map((r) => {
        const x = lat(s, r)
        if (!x) return '—'
        const b = by.bare?.latency?.[r]
        const ratio = b && b.p99 > 0 && s.meta.name !== 'bare' ? ` (${fmtRatio(x.p99 / b.p99)})` : ''
        return `${x.p50} / ${x.p99} / ${x.max}${ratio}${x.rps < x.rate * 0.95 ? ' sat.' : ''}`
      }).join(' | ')} |\n`)
    }
    // p99 targets: ≤ P99_MAX_VS_BARE × bare and below every peer on the same kind of store.
    const checks = []
    for (const ours of withLatency.filter((s) => s.meta.group === 'lazy' && by.bare?.latency)) {
      for (const r of routes) {
        const x = lat(ours, r)
        const b = by.bare.latency[r]
        if (!x || !b) continue
        const peers = withLatency.filter((p) => p.meta.group === 'peer' && p.meta.store === ours.meta.store && lat(p, r))
        const worstPeerBeaten = peers.every((p) => x.p99 < lat(p, r).p99)
        const ok = x.p99 <= b.p99 * P99_MAX_VS_BARE && (r === 'none' || worstPeerBeaten)
        checks.push(`| ${ours.meta.name} /${r} | ${fmtRatio(b.p99 > 0 ? x.p99 / b.p99 : null)} | ${peers.length ? peers.map((p) => `${lat(p, r).p99}`).join(', ') : '—'} | ${ok ? 'PASS' : 'FAIL'} |\n`)
      }
    }
    if (checks.length) {
      L.push(`\np99 targets: ≤ ${P99_MAX_VS_BARE}× bare's p99, and (on /read and /write) below the p99 of every peer with the same kind of store.\n\n`)
      L.push('| subject / route | p99 vs bare | peers\' p99 (ms) | |\n|---|--:|--:|---|\n')
      L.push(checks.join(''))
    }
  }

  L.push('\n### Server CPU use during the measurement (median, 100% = the pinned core saturated)\n\n')
  L.push(head('subject'))
  for (const s of live) {
    L.push(`| ${s.meta.label} | ${routes.map((r) => {
      const c = median(s.cpu[r])
      return c == null ? '—' : `${Math.round(c * 100)}%`
    }).join(' | ')} |\n`)
  }

  L.push('\n### Requests per server CPU-second (median; the server-side cost per request, whatever the load)\n\n')
  L.push(head('subject'))
  for (const s of live) {
    L.push(`| ${s.meta.label} | ${routes.map((r) => fmt(capacity(s.meta.name, r))).join(' | ')} |\n`)
  }

  L.push('\n### Set-Cookie sent in reply to a request that carries a valid session cookie\n\n')
  L.push(head('subject'))
  for (const s of live.filter((x) => x.meta.usesSession)) {
    L.push(`| ${s.meta.label} | ${routes.map((r) => (s.setCookieOn[r] ? 'yes' : 'no')).join(' | ')} |\n`)
  }

  const problems = live.flatMap((s) => s.problems.map((p) => `${s.meta.name} ${p}`))
  const foreign = median(stats.foreign)
  if (foreign != null) {
    notes.push(`Other processes on the machine used a median ${foreign.toFixed(2)} cores during the measurements; ` +
      `${stats.retried} of ${stats.measurements} measurements were repeated after waiting ${Math.round(stats.waited)} s in all for a quieter machine, ` +
      `${stats.noisy} remained disturbed (> ${config.maxForeign} cores of other load).`)
  }
  if (notes.length || problems.length) {
    L.push('\n### Notes\n\n')
    for (const n of [...notes, ...problems]) L.push(`- ${n}\n`)
  }

  const fails = targetResults.filter((t) => !t.ok)
  console.error(`bench: targets ${targetResults.length - fails.length}/${targetResults.length} PASS${fails.length ? ' — FAIL: ' + fails.map((t) => `${t.subject} /${t.route} ${fmtRatio(t.r)} < ${t.min}×`).join(', ') : ''}`)
  return L.join('')
}

/** `node bench/run.mjs --from bench/results/latest.json`: renders the report of a finished run again. */
async function rerender (file) {
  const { readFileSync } = await import('node:fs')
  const json = JSON.parse(readFileSync(file, 'utf8'))
  Object.assign(config, json.config, { output: config.output })
  const live = json.subjects.map((s) => ({
    meta: SUBJECTS.find((m) => m.name === s.name) ?? { name: s.name, label: s.label },
    samples: s.samples,
    cpu: s.serverCpu,
    ref: s.ref,
    refCpu: s.refCpu,
    latency: s.latency,
    setCookieOn: s.setCookieOn,
    problems: s.problems
  }))
  const report = buildReport({ live, machine: json.machine, notes: [], pinning: json.pinned, stats: json.stats, seconds: json.seconds ?? 0, date: json.date })
  console.log(report + (json.memory ? '\n' + json.memory : '') + (json.micro ? '\n' + json.micro : ''))
}

if (process.argv[2] === '--from') {
  rerender(process.argv[3] ?? join(RESULTS_DIR, 'latest.json')).catch((err) => { console.error(err); process.exit(1) })
} else main().catch(async (err) => {
  console.error(`bench: FAILED ${err?.stack ?? err}`)
  await killAll()
  process.exit(1)
})
