// Shared plumbing for the benchmark: CPU pinning, child processes (subject servers, the load
// generator, redis-server), session-cookie capture, machine info. Plain Node ESM, no dependencies
// beyond autocannon (loaded by load.mjs only).

import { spawn, spawnSync } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { readFileSync, existsSync, mkdirSync, openSync, closeSync, readdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
export const ROOT_DIR = dirname(BENCH_DIR)
export const RESULTS_DIR = join(BENCH_DIR, 'results')
export const LOG_DIR = join(RESULTS_DIR, 'logs')
export const DIST_ENTRY = join(ROOT_DIR, 'dist', 'index.js')

/** ≥ 32 characters, used by every subject that takes a secret. */
export const SECRET = 'benchmark-secret-that-is-at-least-32-characters-long'

export const ROUTES = ['none', 'read', 'write']

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export function ensureDirs () {
  mkdirSync(LOG_DIR, { recursive: true })
}

// ---------------------------------------------------------------------------------------------
// CPU pinning

let tasksetChecked = null
/** `true` when `taskset` exists and this machine has at least 2 CPUs to pin to. */
export function canPin () {
  if (tasksetChecked === null) {
    if (process.env.BENCH_NO_PIN === '1') {
      tasksetChecked = false
    } else {
      const r = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' })
      tasksetChecked = r.status === 0 && cpus().length >= 2
    }
  }
  return tasksetChecked
}

/** `[command, args]` that runs `cmd args` pinned to `cpu` when pinning is available. */
export function pinned (cpu, cmd, args) {
  if (cpu == null || !canPin()) return [cmd, args]
  return ['taskset', ['-c', String(cpu), cmd, ...args]]
}

/** Pins an already running process (e.g. the orchestrator itself). */
export function pinPid (pid, cpu) {
  if (!canPin()) return false
  return spawnSync('taskset', ['-pc', String(cpu), String(pid)], { stdio: 'ignore' }).status === 0
}

// ---------------------------------------------------------------------------------------------
// Child bookkeeping: every child we start is killed at the end, even on failure.

const children = new Set()

export function track (child, stop) {
  const entry = { child, stop }
  children.add(entry)
  child.once('exit', () => children.delete(entry))
  return child
}

/** Stops every tracked child: a polite stop first, SIGKILL after `graceMs`. */
export async function killAll (graceMs = 3000) {
  const list = [...children]
  await Promise.all(list.map(async ({ child, stop }) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try { stop ? stop() : child.kill('SIGTERM') } catch {}
    const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])
    if (!done) {
      try { child.kill('SIGKILL') } catch {}
      await Promise.race([exited, sleep(1000)])
    }
  }))
}

let cleanupInstalled = false
export function installCleanup () {
  if (cleanupInstalled) return
  cleanupInstalled = true
  const onSignal = (sig) => {
    process.stderr.write(`\nbench: ${sig}, stopping child processes…\n`)
    killAll(1500).finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // Last resort: synchronous SIGKILL of whatever is still alive.
  process.once('exit', () => {
    for (const { child } of children) {
      try { child.kill('SIGKILL') } catch {}
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Ports and redis-server

export function freePort () {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

function redisPing (port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' })
    const timer = setTimeout(() => { sock.destroy(); resolve(false) }, timeoutMs)
    sock.on('error', () => { clearTimeout(timer); resolve(false) })
    sock.on('connect', () => sock.write('PING\r\n'))
    sock.on('data', (d) => {
      clearTimeout(timer)
      sock.destroy()
      resolve(d.toString().startsWith('+PONG'))
    })
  })
}

/**
 * Starts a private redis-server on a free port, no persistence. Never touches 127.0.0.1:6379.
 * Returns `{ url, port, pid, stop }`.
 */
export async function startRedis ({ cpu = null, attempts = 5 } = {}) {
  const bin = process.env.BENCH_REDIS_SERVER || 'redis-server'
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await freePort()
    if (port === 6379) continue
    const [cmd, args] = pinned(cpu, bin, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'
    ])
    const log = openSync(join(LOG_DIR, 'redis-server.log'), 'a')
    const child = spawn(cmd, args, { stdio: ['ignore', log, log] })
    closeSync(log)
    track(child, () => child.kill('SIGTERM'))
    let spawnError = null
    child.once('error', (err) => { spawnError = err })
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && child.exitCode === null && !spawnError) {
      if (await redisPing(port)) {
        return {
          url: `redis://127.0.0.1:${port}`,
          port,
          pid: child.pid,
          stop: () => new Promise((resolve) => {
            if (child.exitCode !== null) return resolve()
            child.once('exit', resolve)
            child.kill('SIGTERM')
          })
        }
      }
      await sleep(100)
    }
    if (spawnError) throw new Error(`cannot start ${bin}: ${spawnError.message}`)
    try { child.kill('SIGKILL') } catch {}
  }
  throw new Error(`redis-server did not start after ${attempts} attempts (see bench/results/logs/redis-server.log)`)
}

// ---------------------------------------------------------------------------------------------
// Subject servers

/**
 * The subjects, in table order: each is bench/subjects/<name>.mjs, whose `setup(app, { secret, redisUrl })`
 * registers its plugins and returns `{ none, read, write }` handlers.
 * group: baseline | floor | lazy (ours) | peer; store: what keeps the session.
 */
export const SUBJECTS = [
  { name: 'bare', label: 'Fastify (bare)', group: 'baseline', store: null },
  { name: 'cookie', label: 'Fastify + @fastify/cookie', group: 'baseline', store: null },
  { name: 'onsend', label: 'Fastify + one empty onSend hook', group: 'baseline', store: null },
  { name: 'redis-floor', label: 'Redis floor (@fastify/cookie + ioredis, no crypto)', group: 'floor', store: 'redis', usesSession: true, needsRedis: true },
  { name: 'lazy-memory', label: 'fastify-lazy-session · MemoryStore', group: 'lazy', store: 'memory', usesSession: true, needsDist: true },
  { name: 'lazy-cookie', label: 'fastify-lazy-session · CookieStore', group: 'lazy', store: 'cookie', usesSession: true, needsDist: true },
  { name: 'lazy-redis', label: 'fastify-lazy-session · RedisStore', group: 'lazy', store: 'redis', usesSession: true, needsDist: true, needsRedis: true },
  { name: 'fsession-memory', label: '@fastify/session · default MemoryStore', group: 'peer', store: 'memory', usesSession: true },
  { name: 'fsession-redis', label: '@fastify/session · connect-redis', group: 'peer', store: 'redis', usesSession: true, needsRedis: true },
  { name: 'secure-session', label: '@fastify/secure-session', group: 'peer', store: 'cookie', usesSession: true },
  { name: 'mgcrea-memory', label: '@mgcrea/fastify-session · MemoryStore', group: 'peer', store: 'memory', usesSession: true },
  { name: 'mgcrea-redis', label: '@mgcrea/fastify-session · RedisStore', group: 'peer', store: 'redis', usesSession: true, needsRedis: true }
]

export const subjectMeta = (name) => SUBJECTS.find((s) => s.name === name)

/**
 * Spawns `node bench/server.mjs <name>` pinned to `cpu`; resolves once it reports its port over IPC.
 * Returns `{ name, port, pid, child, stop() }`.
 */
export async function startServer (name, { cpu = null, redisUrl = '', nodeArgs = [], timeoutMs = 20_000 } = {}) {
  const logPath = join(LOG_DIR, `${name}.log`)
  const log = openSync(logPath, 'w')
  const [cmd, args] = pinned(cpu, process.execPath, [...nodeArgs, join(BENCH_DIR, 'server.mjs'), name])
  const child = spawn(cmd, args, {
    cwd: ROOT_DIR,
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, BENCH_REDIS_URL: redisUrl, NODE_ENV: 'production' }
  })
  closeSync(log)
  const stop = () => {
    if (child.connected) child.send({ cmd: 'exit' })
    else child.kill('SIGTERM')
  }
  track(child, stop)
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
    function fail (err) {
      clearTimeout(timer)
      child.off('message', onMessage)
      try { child.kill('SIGKILL') } catch {}
      let tail = ''
      try { tail = readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n') } catch {}
      reject(new Error(`subject ${name} did not start: ${err.message}\n${tail}`))
    }
    function onMessage (msg) {
      if (msg && msg.type === 'listening') { clearTimeout(timer); child.off('message', onMessage); resolve(msg.port) }
      if (msg && msg.type === 'error') fail(new Error(msg.message))
    }
    child.on('message', onMessage)
    child.once('error', fail)
    child.once('exit', (code, sig) => fail(new Error(`exited (${code ?? sig})`)))
  })
  return {
    name,
    port,
    pid: child.pid,
    child,
    logPath,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, 5000)
      child.once('exit', () => { clearTimeout(timer); resolve() })
      stop()
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Session cookie capture and sanity check

function cookiePairs (setCookies) {
  return setCookies
    .map((c) => c.split(';', 1)[0].trim())
    .filter((pair) => {
      const eq = pair.indexOf('=')
      return eq > 0 && pair.length > eq + 1 // skip deletion cookies (empty value)
    })
}

async function get (port, path, cookie, timeoutMs = 5000) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: cookie ? { cookie } : {},
    signal: AbortSignal.timeout(timeoutMs)
  })
  const body = await res.text()
  return { status: res.status, setCookies: res.headers.getSetCookie(), body }
}

/**
 * Creates a session with `n = 1` (GET /write without a cookie), captures its cookie, and checks that
 * `GET /read` with that cookie sees the value. Returns `{ cookie, setCookieOn: {none, read, write} }`.
 * Subjects that set no cookie (bare, cookie-only) get a dummy cookie of a typical signed-ID size so
 * every subject parses a request of about the same size. With `count` > 1, also creates `count - 1` more
 * sessions and returns all their cookies in `cookies` (the first is `cookie`).
 */
export async function prepareSession (server, meta, count = 1) {
  const created = await get(server.port, '/write')
  if (created.status !== 200) throw new Error(`${server.name}: GET /write → ${created.status} ${created.body.slice(0, 200)}`)
  const pairs = cookiePairs(created.setCookies)
  let cookie
  if (pairs.length > 0) {
    cookie = pairs.join('; ')
  } else if (meta.usesSession) {
    throw new Error(`${server.name}: GET /write set no session cookie`)
  } else {
    cookie = 'session=' + 'x'.repeat(32) + '.' + 'y'.repeat(43)
  }
  const check = {}
  for (const route of ROUTES) {
    const r = await get(server.port, `/${route}`, cookie)
    if (r.status !== 200) throw new Error(`${server.name}: GET /${route} with the session cookie → ${r.status} ${r.body.slice(0, 200)}`)
    check[route] = { setCookie: r.setCookies.length > 0, body: r.body }
  }
  if (meta.usesSession) {
    const n = JSON.parse(check.read.body).n
    if (n !== 1) throw new Error(`${server.name}: GET /read with the session cookie returned ${check.read.body}, expected {"n":1} — the session was not loaded`)
  }
  const cookies = [cookie]
  // More sessions (BENCH_SESSIONS): many users instead of one, created 32 at a time, ≤ 60 s in all.
  const deadline = Date.now() + 60_000
  while (cookies.length < count) {
    if (Date.now() > deadline) throw new Error(`${server.name}: creating ${count} sessions took more than 60 s`)
    const batch = Math.min(32, count - cookies.length)
    const made = await Promise.all(Array.from({ length: batch }, async () => {
      if (!meta.usesSession) return 'session=' + randomBytes(24).toString('base64url') + '.' + randomBytes(32).toString('base64url')
      const r = await get(server.port, '/write')
      const p = cookiePairs(r.setCookies)
      if (r.status !== 200 || p.length === 0) throw new Error(`${server.name}: GET /write → ${r.status} without a session cookie`)
      return p.join('; ')
    }))
    cookies.push(...made)
  }
  return {
    cookie,
    cookies,
    setCookieOn: Object.fromEntries(ROUTES.map((r) => [r, check[r].setCookie]))
  }
}

// ---------------------------------------------------------------------------------------------
// Load generator: one long-lived autocannon process pinned to the load core.

export class LoadWorker {
  constructor ({ cpu = null } = {}) {
    this.cpu = cpu
    this.child = null
    this.seq = 0
    this.pending = new Map()
  }

  start () {
    const [cmd, args] = pinned(this.cpu, process.execPath, [join(BENCH_DIR, 'load.mjs')])
    const child = spawn(cmd, args, { cwd: ROOT_DIR, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child = child
    track(child, () => { if (child.connected) child.disconnect(); else child.kill('SIGTERM') })
    child.on('message', (msg) => {
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      if (msg.error) p.reject(new Error(msg.error))
      else p.resolve(msg.result)
    })
    child.once('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error('load generator exited'))
      this.pending.clear()
      if (this.child === child) this.child = null
    })
  }

  /** Runs one autocannon measurement; rejects after duration + 30 s at the latest. */
  run (opts) {
    if (!this.child) this.start()
    const id = ++this.seq
    const limitMs = (opts.duration * 1000) + 30_000
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        try { this.child?.kill('SIGKILL') } catch {}
        this.child = null
        reject(new Error(`measurement timed out after ${limitMs} ms`))
      }, limitMs)
      this.pending.set(id, {
        resolve: (r) => { clearTimeout(timer); resolve(r) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.child.send({ id, opts })
    })
  }

  get pid () {
    return this.child?.pid ?? null
  }

  stop () {
    if (this.child?.connected) this.child.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// CPU time of a process (utime + stime) from /proc, in seconds; null where /proc is unavailable.

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const v = Number.parseInt(r.stdout, 10)
  return Number.isFinite(v) && v > 0 ? v : 100
})()

export function cpuSeconds (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK // utime, stime
  } catch {
    return null
  }
}

/**
 * CPU seconds spent by everything on the machine (user + nice + system over all CPUs, from /proc/stat).
 * Compared with the CPU time of our own processes it tells how much the rest of the machine (other
 * users' builds and tests on a shared box) took during a measurement.
 */
export function machineBusySeconds () {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
    const [, user, nice, system] = line.trim().split(/\s+/).map(Number)
    return (user + nice + system) / CLK_TCK
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------------------------
// Machine description for the report

export function machineInfo () {
  let model = 'unknown'
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)
    if (m) model = m[1].trim()
  } catch {
    model = cpus()[0]?.model ?? 'unknown'
  }
  const nproc = spawnSync('nproc', [], { encoding: 'utf8' }).stdout?.trim() || String(cpus().length)
  const version = (pkg) => {
    try { return JSON.parse(readFileSync(join(ROOT_DIR, 'node_modules', pkg, 'package.json'), 'utf8')).version } catch { return '?' }
  }
  const redis = spawnSync(process.env.BENCH_REDIS_SERVER || 'redis-server', ['--version'], { encoding: 'utf8' }).stdout?.match(/v=(\S+)/)?.[1] ?? '?'
  return {
    nproc,
    model,
    node: process.version,
    os: `${process.platform} ${process.arch}`,
    redis,
    versions: Object.fromEntries([
      'fastify', '@fastify/cookie', '@fastify/session', 'connect-redis', 'redis', '@fastify/secure-session',
      '@mgcrea/fastify-session', '@mgcrea/fastify-session-redis-store', 'ioredis', 'autocannon'
    ].map((p) => [p, version(p)]))
  }
}

export function distAvailable () {
  return existsSync(DIST_ENTRY)
}

export function listProfiles (dir) {
  try { return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f)) } catch { return [] }
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function median (xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return null
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
