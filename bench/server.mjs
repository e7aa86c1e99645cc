// Hosts one benchmark subject: `node bench/server.mjs <subject>`.
// The subject module (bench/subjects/<subject>.mjs) registers its plugins and returns one handler
// per route; this file mounts them at GET /none, /read and /write, listens on a free port and
// reports `{ type: 'listening', port }` to the parent over IPC (or as a JSON line on stdout when
// started by hand). It exits cleanly (so `--cpu-prof` can write its profile) on `{ cmd: 'exit' }`,
// SIGTERM, SIGINT, or when the parent goes away. `{ cmd: 'profile-start' }` / `{ cmd: 'profile-stop', path }`
// take a V8 CPU profile of the measured part only (bench/profile.mjs).

import Fastify from 'fastify'
import { SECRET, ROUTES } from './harness.mjs'

const name = process.argv[2]
if (!name) {
  console.error('usage: node bench/server.mjs <subject>')
  process.exit(2)
}

function report (msg) {
  if (process.send) process.send(msg)
  else process.stdout.write(JSON.stringify(msg) + '\n')
}

let app
let closing = false
async function shutdown (code = 0) {
  if (closing) return
  closing = true
  const force = setTimeout(() => process.exit(code), 3000)
  force.unref()
  try { await app?.close() } catch (err) { console.error(err) }
  process.exit(code)
}

// CPU profiling on demand (bench/profile.mjs): start after the warm-up, stop and write the profile.
let profiler = null
async function onProfileMessage (msg) {
  try {
    if (msg.cmd === 'profile-start') {
      const { Session } = await import('node:inspector/promises')
      profiler = new Session()
      profiler.connect()
      await profiler.post('Profiler.enable')
      await profiler.post('Profiler.setSamplingInterval', { interval: msg.intervalUs ?? 100 })
      await profiler.post('Profiler.start')
      report({ type: 'profile-started' })
    } else if (msg.cmd === 'profile-stop') {
      const { profile } = await profiler.post('Profiler.stop')
      profiler.disconnect()
      profiler = null
      const { writeFileSync } = await import('node:fs')
      writeFileSync(msg.path, JSON.stringify(profile))
      report({ type: 'profile-written', path: msg.path })
    }
  } catch (err) {
    report({ type: 'profile-error', message: String(err?.stack ?? err) })
  }
}

process.on('message', (msg) => {
  if (msg && msg.cmd === 'exit') shutdown(0)
  else if (msg && typeof msg.cmd === 'string' && msg.cmd.startsWith('profile-')) onProfileMessage(msg)
})
process.on('disconnect', () => shutdown(0))
process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))

try {
  const subject = await import(`./subjects/${name}.mjs`)
  app = Fastify({ logger: false })
  const handlers = await subject.setup(app, { secret: SECRET, redisUrl: process.env.BENCH_REDIS_URL || '' })
  for (const route of ROUTES) {
    if (typeof handlers[route] !== 'function') throw new Error(`subject ${name} has no handler for /${route}`)
    app.get(`/${route}`, handlers[route])
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  report({ type: 'listening', port: app.server.address().port, pid: process.pid })
} catch (err) {
  console.error(err)
  report({ type: 'error', message: String(err?.stack ?? err) })
  await shutdown(1)
}
