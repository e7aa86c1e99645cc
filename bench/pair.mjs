// A/B of two subjects measured at the same moment on the same core: `node bench/pair.mjs <A> <B> [route] [rounds] [seconds]`.
//
// Both servers are pinned to the server core and loaded at once (one load generator each, both on the load core), so
// the kernel shares that core between them from millisecond to millisecond: a slow or fast phase of a shared VM
// (seconds long, ±40 % here) slows both alike and cancels out of their ratio. Each round reports the two servers'
// requests per CPU-second (their cost per request) and throughputs; the result is the median of the per-round ratios.
// Resolves a few per cent in a minute where `npm run bench`'s interleaved samples need dozens of rounds.
//
// Env: BENCH_RESTARTS [4] pairs of fresh server processes (each runs `rounds`), BENCH_CONNECTIONS [50], BENCH_WARMUP [2] seconds, BENCH_SERVER_CPU [1], BENCH_LOAD_CPU [0], BENCH_REDIS_CPU [0].

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import {
  SUBJECTS, ROUTES, BENCH_DIR, ensureDirs, installCleanup, killAll, canPin, startRedis, startServer, prepareSession, LoadWorker,
  cpuSeconds, median, sleep
} from './harness.mjs'

const [a, b, route = 'read', roundsArg = '10', secondsArg = '2'] = process.argv.slice(2)
const names = SUBJECTS.map((s) => s.name)
// A name that is not a subject of the bench may still be a file in bench/subjects/ (an experiment of your own).
const known = (name) => names.includes(name) || existsSync(join(BENCH_DIR, 'subjects', `${name}.mjs`))
const metaOf = (name) => SUBJECTS.find((s) => s.name === name) ?? { name, label: name, needsRedis: /redis/.test(name) }
if (!known(a) || !known(b) || !ROUTES.includes(route)) {
  console.error(`usage: node bench/pair.mjs <A> <B> [route] [rounds] [seconds]\n  subjects: ${names.join(', ')} (or any bench/subjects/<name>.mjs)\n  routes: ${ROUTES.join(', ')}`)
  process.exit(2)
}
const rounds = Math.max(1, Number(roundsArg))
const restarts = Math.max(1, Number(process.env.BENCH_RESTARTS || 4))
const seconds = Number(secondsArg)
const env = process.env
const connections = Number(env.BENCH_CONNECTIONS || 50)
const warmup = Number(env.BENCH_WARMUP || 2)
const pin = canPin()
const serverCpu = pin ? Number(env.BENCH_SERVER_CPU || 1) : null
const loadCpu = pin ? Number(env.BENCH_LOAD_CPU || 0) : null
const redisCpu = pin ? Number(env.BENCH_REDIS_CPU || 0) : null

function quantile (xs, q) {
  const s = [...xs].sort((x, y) => x - y)
  const i = (s.length - 1) * q
  const lo = Math.floor(i)
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo)
}

async function main () {
  ensureDirs()
  installCleanup()
  const metas = [a, b].map(metaOf)
  const redis = metas.some((m) => m.needsRedis) ? await startRedis({ cpu: redisCpu }) : null
  const workers = [new LoadWorker({ cpu: loadCpu }), new LoadWorker({ cpu: loadCpu })]
  const perCpu = []
  const perSecond = []
  console.error(`${a} vs ${b}, GET /${route}: ${restarts} pairs of fresh processes × ${rounds} rounds × ${seconds} s, both servers on CPU ${serverCpu ?? 'any'} at once`)
  for (let restart = 0; restart < restarts; restart++) {
    // Two processes of the same code differ by a few per cent (memory layout, JIT timing): fresh ones each time,
    // started and loaded in alternating order.
    const order = restart % 2 === 0 ? [0, 1] : [1, 0]
    const servers = []
    for (const i of order) servers[i] = await startServer(metas[i].name, { cpu: serverCpu, redisUrl: redis?.url ?? '' })
    const cookies = []
    for (let i = 0; i < 2; i++) cookies.push((await prepareSession(servers[i], metas[i])).cookie)
    const load = (duration) => Promise.all(servers.map((server, i) => workers[order[i]].run({
      url: `http://127.0.0.1:${server.port}/${route}`, connections, pipelining: 1, duration, headers: { cookie: cookies[i] }
    })))
    if (warmup > 0) await load(warmup)
    for (let round = 1; round <= rounds; round++) {
      await sleep(200)
      const before = servers.map((server) => cpuSeconds(server.pid))
      const results = await load(seconds)
      const cpu = servers.map((server, i) => cpuSeconds(server.pid) - before[i])
      const bad = results.find((r) => r.non2xx > 0 || r.errors > 0)
      if (bad) throw new Error(`round ${round}: ${bad.non2xx} non-2xx, ${bad.errors} errors`)
      const rpc = results.map((r, i) => r.ok / cpu[i])
      perCpu.push(rpc[0] / rpc[1])
      perSecond.push(results[0].rps / results[1].rps)
      console.error(`[${restart + 1}.${round}] ${a} ${Math.round(rpc[0])} req/CPU-s (${Math.round(results[0].rps)} req/s, CPU ${(cpu[0] / seconds * 100).toFixed(0)}%)  ` +
        `${b} ${Math.round(rpc[1])} req/CPU-s (${Math.round(results[1].rps)} req/s, CPU ${(cpu[1] / seconds * 100).toFixed(0)}%)  ratio ${perCpu.at(-1).toFixed(3)}`)
    }
    for (const server of servers) server.stop()
    await sleep(300)
  }
  const spread = (xs) => `${quantile(xs, 0.25).toFixed(3)}–${quantile(xs, 0.75).toFixed(3)}`
  console.log(`${a} / ${b} GET /${route}: ${median(perCpu).toFixed(3)}× per server CPU-second (IQR ${spread(perCpu)}), ` +
    `${median(perSecond).toFixed(3)}× req/s (IQR ${spread(perSecond)}), ${restarts} × ${rounds} rounds`)
  for (const w of workers) w.stop()
  await killAll()
  redis?.stop?.()
}

main().catch(async (error) => {
  console.error(error)
  await killAll()
  process.exit(1)
})
