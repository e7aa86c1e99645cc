// Prometheus metrics for fastify-lazy-session, from its diagnostics_channel events, with prom-client:
//   session_events_total{event, store[, reason]}            one counter per lifecycle event (refused/revoked by reason)
//   session_store_duration_seconds{operation, store, outcome}  a histogram of store call latency (outcome ok | error)
// Served on GET /metrics. Run: `npm run build && node examples/metrics.mjs` (REDIS_URL=redis://… for a RedisStore,
// PORT [3000]), then `curl -c jar -b jar localhost:3000/` a few times and `curl localhost:3000/metrics`.
import diagnostics from 'node:diagnostics_channel'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import session, { channels, MemoryStore, RedisStore } from 'fastify-lazy-session'
import client from 'prom-client'

const EVENTS = ['created', 'loaded', 'refused', 'saved', 'regenerated', 'destroyed', 'revoked']

/**
 * Subscribes prom-client metrics in `registry` to the plugin's channels. Call `close()` to unsubscribe.
 * Nothing here touches the session ID or data: the messages carry only the handle, the store's name and a reason.
 */
export function sessionMetrics (registry = new client.Registry()) {
  const events = new client.Counter({
    name: 'session_events_total',
    help: 'fastify-lazy-session lifecycle events',
    labelNames: ['event', 'store', 'reason'],
    registers: [registry]
  })
  const duration = new client.Histogram({
    name: 'session_store_duration_seconds',
    help: 'fastify-lazy-session store call latency',
    labelNames: ['operation', 'store', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry]
  })

  const listeners = EVENTS.map((event) => {
    const listener = (message) => {
      // refused and revoked say why; the other events have no reason label
      events.inc(message.reason === undefined ? { event, store: message.store } : { event, store: message.store, reason: message.reason })
    }
    diagnostics.subscribe(channels[event], listener)
    return [channels[event], listener]
  })

  // The tracing context is one object per store call, from start to asyncEnd: a WeakMap holds its timer.
  const timers = new WeakMap()
  const finish = (context) => {
    timers.get(context)?.({ operation: context.operation, store: context.store, outcome: context.error === undefined ? 'ok' : 'error' })
    timers.delete(context)
  }
  const store = diagnostics.tracingChannel(channels.store)
  const handlers = {
    start (context) { timers.set(context, duration.startTimer()) },
    // `end` with an error: the store threw instead of rejecting, no asyncEnd follows
    end (context) { if (context.error !== undefined) finish(context) },
    asyncStart () {},
    asyncEnd: finish,
    error () {}
  }
  store.subscribe(handlers)

  return {
    registry,
    close () {
      for (const [name, listener] of listeners) diagnostics.unsubscribe(name, listener)
      store.unsubscribe(handlers)
    }
  }
}

/**
 * The example app: a visit counter on `/`, `/login` and `/logout`, and `/metrics`.
 * `options` go to the plugin (`store`, `idleTimeout`, …).
 */
export async function build (options = {}) {
  const metrics = sessionMetrics()
  const app = Fastify({ logger: process.env.LOG === '1' })
  app.addHook('onClose', async () => { metrics.close() })
  await app.register(session, {
    secret: process.env.SESSION_SECRET ?? 'replace me with a secret of 32+ characters',
    ...options
  })
  app.get('/', async (request) => {
    const session = await request.loadSession()
    const visits = (session.get('visits') ?? 0) + 1
    session.set('visits', visits)
    return { visits }
  })
  app.get('/whoami', async (request) => ({ user: (await request.loadSession()).get('user') ?? null }))
  app.post('/login', async (request) => {
    const session = await request.loadSession()
    await session.regenerate() // a new ID at sign-in (session fixation)
    session.set('user', 'ada')
    return { user: 'ada' }
  })
  app.post('/logout', async (request) => {
    await (await request.loadSession()).destroy()
    return { user: null }
  })
  app.get('/metrics', async (request, reply) => {
    reply.type(metrics.registry.contentType)
    return metrics.registry.metrics()
  })
  return app
}

// Run directly: listen on PORT.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const store = process.env.REDIS_URL ? new RedisStore({ url: process.env.REDIS_URL }) : new MemoryStore()
  const app = await build({ store })
  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
  console.log(`metrics example listening on ${address} (GET /metrics)`)
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { app.close().then(() => process.exit(0)) })
}
