// What the diagnostics_channel events cost: /read and /write (MemoryStore, app.inject) handled by
//   - baseline:     a build without the channels (BASELINE_DIST, see below), when given
//   - unsubscribed: this build (dist/), nobody listening — the case that must cost nothing
//   - subscribed:   (BENCH_SUBSCRIBE=1) this build with a no-op listener on every channel and the store tracing channel
//   - again:        without BASELINE_DIST, a second copy of this build: the noise floor of the method
// Interleaved rounds (every variant once per round, in a rotating order); each ratio is the median of per-round ratios.
// Run pinned to one core, after `npm run build`:
//   nice -n 10 taskset -c 1 node bench/observability.mjs
// A baseline build of the commit before the channels (here 0ff782b), outside the work tree:
//   mkdir -p /tmp/base && git archive 0ff782b lib package.json tsconfig.json | tar -x -C /tmp/base \
//     && ln -s "$PWD/node_modules" /tmp/base/ && (cd /tmp/base && npx tsc -p .)
//   BASELINE_DIST=/tmp/base/dist nice -n 10 taskset -c 1 node bench/observability.mjs
//   BASELINE_DIST=/tmp/base/dist BENCH_SUBSCRIBE=1 nice -n 10 taskset -c 1 node bench/observability.mjs
// Env: BENCH_ROUNDS [15], BENCH_ROUND_MS [400] per variant and route.
// Memory: app.inject keeps ~9.5 KB per request on Fastify 5 (a bare app without this plugin too), so a run of
// 2 apps × 60 rounds can reach Node's default heap limit: keep rounds moderate or raise --max-old-space-size.
import diagnostics from 'node:diagnostics_channel'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import { ROOT_DIR, SECRET, median } from './harness.mjs'
import { lazyRoutes } from './subjects/routes.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS || 15)
const ROUND_MS = Number(process.env.BENCH_ROUND_MS || 400)

async function app (dist) {
  const { default: session, MemoryStore } = await import(pathToFileURL(join(dist, 'index.js')).href)
  const fastify = Fastify({ logger: false })
  await fastify.register(session, { secret: SECRET, store: new MemoryStore(), cookie: { secure: false } })
  const routes = lazyRoutes()
  fastify.get('/read', routes.read)
  fastify.get('/write', routes.write)
  await fastify.ready()
  const created = await fastify.inject('/write')
  const cookie = [created.headers['set-cookie']].flat()[0].split(';', 1)[0]
  return { fastify, cookie }
}

/**
 * Requests of `url` per CPU second of this process, over about ROUND_MS of wall time, 16 in flight at a time. CPU time,
 * not wall time: on a shared machine the wall clock mostly measures the other processes.
 */
async function rate ({ fastify, cookie }, url) {
  const request = { method: 'GET', url, headers: { cookie } }
  const deadline = performance.now() + ROUND_MS
  const cpu = process.cpuUsage()
  let n = 0
  while (performance.now() < deadline) {
    const batch = []
    for (let i = 0; i < 16; i++) batch.push(fastify.inject(request))
    await Promise.all(batch)
    n += 16
  }
  const used = process.cpuUsage(cpu)
  return n / ((used.user + used.system) / 1e6)
}

const variants = []
if (process.env.BASELINE_DIST) variants.push(['baseline', await app(process.env.BASELINE_DIST)])
const listening = process.env.BENCH_SUBSCRIBE === '1'
variants.push([listening ? 'subscribed' : 'unsubscribed', await app(join(ROOT_DIR, 'dist'))])
if (listening) {
  // For the whole run (subscribing flips the channel objects' class, which would disturb an unsubscribed variant).
  const { channels } = await import(pathToFileURL(join(ROOT_DIR, 'dist', 'index.js')).href)
  const noop = () => {}
  for (const [key, name] of Object.entries(channels)) if (key !== 'store') diagnostics.subscribe(name, noop)
  diagnostics.tracingChannel(channels.store).subscribe({ start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop })
}
if (variants.length === 1) variants.push(['again', await app(join(ROOT_DIR, 'dist'))]) // the noise floor

const results = {}
for (const url of ['/read', '/write']) {
  for (const [, subject] of variants) await rate(subject, url) // warm-up
  const samples = Object.fromEntries(variants.map(([name]) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < variants.length; i++) {
      const [name, subject] = variants[(round + i) % variants.length]
      samples[name].push(await rate(subject, url))
    }
  }
  results[url] = samples
}

const reference = variants[0][0]
console.log(`Node ${process.version}; ${ROUNDS} interleaved rounds × ${ROUND_MS} ms per variant and route; app.inject, MemoryStore.\n`)
console.log(`| route | variant | median req per CPU-s | vs ${reference} (median of per-round ratios) |`)
console.log('|---|---|--:|--:|')
for (const [url, samples] of Object.entries(results)) {
  for (const [name] of variants) {
    const ratios = samples[name].map((value, i) => value / samples[reference][i])
    const change = (median(ratios) - 1) * 100
    console.log(`| ${url} | ${name} | ${Math.round(median(samples[name])).toLocaleString('en-US')} | ${name === reference ? '—' : `${change >= 0 ? '+' : ''}${change.toFixed(2)} %`} |`)
  }
}
for (const [, subject] of variants) await subject.fastify.close()

// What nobody listening costs per request, from the other side: the checks themselves. A /write makes at most four
// (loaded, the load's trace, the save's trace, saved), a /read two; each TracingChannel check looks at its five channels.
const internals = await import(pathToFileURL(join(ROOT_DIR, 'dist', 'channels.js')).href)
const perCheck = (channel) => {
  const n = 20_000_000
  let seen = 0
  const start = performance.now()
  for (let i = 0; i < n; i++) if (channel.hasSubscribers) seen++
  return { ns: ((performance.now() - start) * 1e6) / n, seen }
}
const event = perCheck(internals.loadedChannel)
const trace = perCheck(internals.storeChannel)
console.log(`\nPer check (${listening ? 'subscribed' : 'nobody listening'}): \`loadedChannel.hasSubscribers\` ${event.ns.toFixed(2)} ns, \`storeChannel.hasSubscribers\` (TracingChannel) ${trace.ns.toFixed(2)} ns.`)
