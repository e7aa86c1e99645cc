// OpenTelemetry spans for fastify-lazy-session's store calls, from its `fastify-lazy-session:store` tracing channel:
// one CLIENT span per call, `session.<operation>` (session.load, session.save, session.destroy, …), with the attributes
// session.operation, session.store and session.handle, status ERROR and the exception on a failure; and each lifecycle
// event (created, loaded, refused, …) as an event on the span that is active then (the request's span under
// @fastify/otel or another HTTP instrumentation). Never the session ID or data: the messages do not carry them.
// Run: `npm run build && node examples/otel.mjs` (REDIS_URL=redis://… for a RedisStore, PORT [3000]); spans are printed
// by the SDK's ConsoleSpanExporter. In production, register your SDK (e.g. @opentelemetry/sdk-node) and call
// `sessionTracing()` with no argument: it uses the global tracer provider.
import diagnostics from 'node:diagnostics_channel'
import { pathToFileURL } from 'node:url'
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import Fastify from 'fastify'
import session, { channels, MemoryStore, RedisStore } from 'fastify-lazy-session'

const EVENTS = ['created', 'loaded', 'refused', 'saved', 'regenerated', 'destroyed', 'revoked']

/** Subscribes `tracer` to the plugin's channels. Call `close()` to unsubscribe. */
export function sessionTracing (tracer = trace.getTracer('fastify-lazy-session')) {
  // The tracing context is one object per store call, from start to asyncEnd: a WeakMap holds its span.
  const spans = new WeakMap()
  const finish = (context) => {
    const span = spans.get(context)
    if (span === undefined) return
    spans.delete(context)
    if (context.error !== undefined) {
      span.recordException(context.error)
      span.setStatus({ code: SpanStatusCode.ERROR, message: context.error?.message ?? String(context.error) })
    }
    span.end()
  }
  const store = diagnostics.tracingChannel(channels.store)
  const handlers = {
    start (context) {
      const attributes = { 'session.operation': context.operation, 'session.store': context.store }
      if (context.handle !== null) attributes['session.handle'] = context.handle
      // started in the caller's context: a child of the request's span when one is active
      spans.set(context, tracer.startSpan(`session.${context.operation}`, { kind: SpanKind.CLIENT, attributes }))
    },
    // `end` with an error: the store threw instead of rejecting, no asyncEnd follows
    end (context) { if (context.error !== undefined) finish(context) },
    asyncStart () {},
    asyncEnd: finish,
    error () {}
  }
  store.subscribe(handlers)

  const listeners = EVENTS.map((event) => {
    const listener = (message) => {
      const attributes = { 'session.store': message.store }
      if (message.handle !== null) attributes['session.handle'] = message.handle
      if (message.reason !== undefined) attributes['session.reason'] = message.reason
      trace.getActiveSpan()?.addEvent(`session.${event}`, attributes)
    }
    diagnostics.subscribe(channels[event], listener)
    return [channels[event], listener]
  })

  return {
    close () {
      store.unsubscribe(handlers)
      for (const [name, listener] of listeners) diagnostics.unsubscribe(name, listener)
    }
  }
}

/**
 * The example app: a visit counter on `/`, `/login`, `/logout` and `/whoami`, its store calls traced with `tracer`.
 * `options` go to the plugin (`store`, `idleTimeout`, …).
 */
export async function build (options = {}, tracer = undefined) {
  const tracing = sessionTracing(tracer)
  const app = Fastify({ logger: process.env.LOG === '1' })
  app.addHook('onClose', async () => { tracing.close() })
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
  return app
}

// Run directly: spans to the console, listen on PORT.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] })
  const store = process.env.REDIS_URL ? new RedisStore({ url: process.env.REDIS_URL }) : new MemoryStore()
  const app = await build({ store }, provider.getTracer('fastify-lazy-session-example'))
  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
  console.log(`otel example listening on ${address}`)
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { app.close().then(() => provider.shutdown()).then(() => process.exit(0)) })
}
