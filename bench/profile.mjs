// Where does the time go? CPU-profiles one subject's server under load and prints the top frames.
//
//   node bench/profile.mjs <subject> <route> [seconds=5]       e.g.  node bench/profile.mjs lazy-memory write
//
// The server runs pinned like in run.mjs; after a warm-up the V8 profiler (node:inspector, 100 µs sampling)
// records `seconds` of autocannon load only. The profile is written to bench/results/profiles/ (open it in
// Chrome DevTools › Performance, or speedscope) and summarised here: self time by function, self time by
// package / file, and inclusive time of the frames in dist/ (the plugin's own code).
// Env: BENCH_CONNECTIONS [50], BENCH_PIPELINING [1], BENCH_WARMUP [3], BENCH_TOP [25].

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import {
  SUBJECTS, ROUTES, RESULTS_DIR, ROOT_DIR, ensureDirs, installCleanup, killAll, canPin, pinPid, startRedis, startServer,
  prepareSession, LoadWorker, sleep
} from './harness.mjs'

const [name, route = 'read', secondsArg = '5'] = process.argv.slice(2)
const meta = SUBJECTS.find((s) => s.name === name)
if (!meta || !ROUTES.includes(route)) {
  console.error(`usage: node bench/profile.mjs <subject> <route> [seconds]\n  subjects: ${SUBJECTS.map((s) => s.name).join(', ')}\n  routes: ${ROUTES.join(', ')}`)
  process.exit(2)
}
const seconds = Number(secondsArg)
const connections = Number(process.env.BENCH_CONNECTIONS || 50)
const pipelining = Number(process.env.BENCH_PIPELINING || 1)
const warmup = Number(process.env.BENCH_WARMUP || 3)
const TOP = Number(process.env.BENCH_TOP || 25)
const PROFILE_DIR = join(RESULTS_DIR, 'profiles')

function waitFor (child, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.off('message', on); reject(new Error(`no ${type} after ${timeoutMs} ms`)) }, timeoutMs)
    function on (msg) {
      if (msg?.type === type) { clearTimeout(timer); child.off('message', on); resolve(msg) }
      if (msg?.type === 'profile-error') { clearTimeout(timer); child.off('message', on); reject(new Error(msg.message)) }
    }
    child.on('message', on)
  })
}

/** Where a frame lives: a package, a file of ours, or a Node/V8 bucket. */
function place (url) {
  if (!url) return '(native / V8)'
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0] + (url.includes('internal/') ? ' (internals)' : '')
  const path = url.replace(/^file:\/\//, '')
  const nm = path.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = path.slice(nm + 14).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  return relative(ROOT_DIR, path)
}

export function summarise (profile, top = TOP) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  // Self time per node from samples × time deltas (more exact than hitCount × mean interval).
  const self = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const idle = [...self.entries()].filter(([id]) => nodes.get(id).callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0)
  const busy = total - idle

  const key = (cf) => `${cf.functionName || '(anonymous)'}  ${cf.url ? relative(ROOT_DIR, cf.url.replace(/^file:\/\//, '')) + ':' + (cf.lineNumber + 1) : ''}`
  const byFrame = new Map()
  const byPlace = new Map()
  const inclusive = new Map()
  for (const [id, t] of self) {
    const cf = nodes.get(id).callFrame
    if (cf.functionName === '(idle)') continue
    byFrame.set(key(cf), (byFrame.get(key(cf)) ?? 0) + t)
    const p = cf.functionName.startsWith('(') ? cf.functionName : place(cf.url)
    byPlace.set(p, (byPlace.get(p) ?? 0) + t)
    // Inclusive time of frames in dist/: walk up the stack, count each frame once per sample stack.
    const seen = new Set()
    for (let cur = id; cur != null; cur = parent.get(cur)) {
      const f = nodes.get(cur).callFrame
      if (!f.url.includes('/dist/')) continue
      const k = key(f)
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + t)
    }
  }
  const pct = (t) => (100 * t / busy).toFixed(1).padStart(5) + '%'
  const lines = []
  lines.push(`busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled (${(100 * busy / total).toFixed(0)}% of the core); percentages are of busy time`)
  lines.push('\nself time by function:')
  for (const [k, t] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${k}`)
  lines.push('\nself time by package / file:')
  for (const [k, t] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`  ${pct(t)}  ${k}`)
  if (inclusive.size) {
    lines.push('\ninclusive time of the plugin\'s own frames (dist/):')
    for (const [k, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 20)) lines.push(`  ${pct(t)}  ${k}`)
  }
  return lines.join('\n')
}

async function main () {
  ensureDirs()
  mkdirSync(PROFILE_DIR, { recursive: true })
  installCleanup()
  if (canPin()) pinPid(process.pid, 0)
  else console.error('profile: taskset unavailable, running unpinned')
  const redis = meta.needsRedis ? await startRedis({ cpu: 0 }) : null
  const server = await startServer(name, { cpu: 1, redisUrl: redis?.url ?? '' })
  const { cookie } = await prepareSession(server, meta)
  const worker = new LoadWorker({ cpu: 0 })
  worker.start()
  const load = (duration) => worker.run({ url: `http://127.0.0.1:${server.port}/${route}`, connections, pipelining, duration, headers: { cookie } })

  await load(warmup)
  await sleep(200)
  server.child.send({ cmd: 'profile-start' })
  await waitFor(server.child, 'profile-started', 10_000)
  const r = await load(seconds)
  const path = join(PROFILE_DIR, `${name}-${route}.cpuprofile`)
  server.child.send({ cmd: 'profile-stop', path })
  await waitFor(server.child, 'profile-written', 30_000)

  worker.stop()
  await server.stop()
  if (redis) await redis.stop()
  await killAll()

  const text = `# ${name} GET /${route}: ${Math.round(r.rps).toLocaleString('en-US')} req/s while profiled ` +
    `(${connections} connections, pipelining ${pipelining}, ${seconds} s; profiling slows it down)\n` +
    summarise(JSON.parse(readFileSync(path, 'utf8'))) + `\n\nprofile: ${relative(ROOT_DIR, path)}\n`
  writeFileSync(join(PROFILE_DIR, `${name}-${route}.txt`), text)
  console.log(text)
}

main().catch(async (err) => {
  console.error(`profile: FAILED ${err?.stack ?? err}`)
  await killAll()
  process.exit(1)
})
