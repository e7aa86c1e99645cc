import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { Autoload, checkRouteConfig } from './autoload.ts'
import { SessionNotLoadedError } from './errors.ts'
import { normalizeOptions, type AutoloadHook, type FastifyLazySessionOptions } from './options.ts'
import { RequestSession, SessionRuntime } from './RequestSession.ts'
import { internals, type SessionWithData as Session } from './Session.ts'
import { StoreUserSessions } from './sessions.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Loads the session (once: later and concurrent calls share the same load) and resolves with it. */
    loadSession (): Promise<Session>
    /** The loaded session; throws `SessionNotLoadedError` (`FST_SESSION_NOT_LOADED`) until `loadSession()` resolved. */
    readonly session: Session
    /** Whether `request.session` can be read. */
    readonly sessionLoaded: boolean
  }
  interface FastifyContextConfig {
    /** Per-route session settings of fastify-lazy-session. */
    session?: {
      /** `true`: load the session in the `autoloadHook` for this route; `false`: never autoload here (overrides the plugin's `autoload`). */
      autoload?: boolean
    }
  }
}

const kSession = Symbol('fastify-lazy-session')
/**
 * Requests whose reply waits in onSend for the session save. A hook that sends a reply without `return reply`
 * (@fastify/passport's redirects and 401) lets Fastify run the handler meanwhile, which sends a second reply.
 */
const saving = new WeakSet<FastifyRequest>()

declare module 'fastify' {
  interface FastifyRequest {
    [kSession]: RequestSession | null | undefined
  }
}

/** What `FST_SESSION_NOT_LOADED` adds to its message: which hook autoload runs in, and what to do before it. */
function notLoadedHint (hook: AutoloadHook): string {
  return hook === 'onRequest'
    ? ' (autoload loads it in `onRequest`; an `onRequest` hook that runs before this plugin\'s must call `await request.loadSession()` itself)'
    : ` (autoload loads it in \`${hook}\`; in an earlier hook, call \`await request.loadSession()\` there, or set \`autoloadHook: 'onRequest'\`)`
}

async function fastifyLazySession (fastify: FastifyInstance, options: FastifyLazySessionOptions): Promise<void> {
  const normalized = normalizeOptions(options as unknown as Record<string, unknown>)
  // @fastify/cookie is used for parsing and serialising, but not registered: its onSend hook would run on every
  // request. An app that registers it (before or after this plugin) keeps it, and its parsed request.cookies are used.
  const runtime = new SessionRuntime(normalized, fastify)
  const autoload = new Autoload(normalized, fastify)
  const notLoaded = 'The session is not loaded: call `await request.loadSession()` first, or enable `autoload` for this route' +
    notLoadedHint(normalized.autoloadHook)

  fastify.decorate('sessions', new StoreUserSessions(normalized))
  fastify.decorateRequest(kSession, null)
  fastify.decorateRequest('loadSession', function loadSession (this: FastifyRequest): Promise<Session> {
    let state = this[kSession]
    // undefined, not null, in a context created before this plugin: its requests do not carry the decorator's default.
    if (state == null) {
      state = new RequestSession(runtime, this)
      this[kSession] = state
    }
    return state.promise
  })
  fastify.decorateRequest('session', {
    getter (this: FastifyRequest): Session {
      const session = this[kSession]?.session
      if (session == null) {
        const error = new SessionNotLoadedError()
        error.message = notLoaded
        throw error
      }
      return internals.exposed(session)
    }
  })
  fastify.decorateRequest('sessionLoaded', {
    getter (this: FastifyRequest): boolean {
      return this[kSession]?.session != null
    }
  })

  // A route declared after this plugin with an invalid setting fails at declaration; one declared before, at its requests.
  fastify.addHook('onRoute', (route) => { checkRouteConfig(route.config, route.method, route.url) })

  // One hook for every route, decided per request: it holds for routes declared before this plugin, without
  // `await register`, and in child contexts. Synchronous (no promise) whenever there is nothing to load.
  fastify.addHook(normalized.autoloadHook, function autoloadSession (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    let wanted: boolean
    try {
      wanted = autoload.wanted(request)
    } catch (error) {
      done(error as Error)
      return
    }
    if (!wanted) {
      done()
      return
    }
    const loading = request.loadSession()
    // Loaded synchronously (no cookie, a CookieStore, the MemoryStore): on at once, without a turn of the event loop.
    if (request[kSession]?.session != null) done()
    else loading.then(() => { done() }, done)
  })

  fastify.addHook('onSend', function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void) {
    const state = request[kSession]
    if (state == null) {
      done(null, payload)
      return
    }
    if (saving.has(request)) {
      // The first reply stands, as it would had the save been synchronous; answering this one too would throw.
      request.log.debug('fastify-lazy-session: a second reply was sent while the session was being saved for the first one; it is dropped (a hook that sent a reply without `return reply`, such as @fastify/passport\'s redirects)')
      return
    }
    let pending: Promise<void> | null
    try {
      pending = state.finish(reply)
    } catch (error) {
      done(error as Error)
      return
    }
    if (pending === null) done(null, payload)
    else {
      saving.add(request)
      // Settled: a later send (the error reply of a failed save) runs the hook as usual.
      pending.then(() => {
        saving.delete(request)
        done(null, payload)
      }, (error: Error) => {
        saving.delete(request)
        done(error)
      })
    }
  })

  const migration = normalized.migrateFrom
  if (migration !== null) {
    fastify.addHook('onSend', async (request, reply) => { migration.clearOldCookie(request, reply) })
  }

  fastify.addHook('onClose', async () => {
    await runtime.store?.close?.()
  })
}

/** The fastify-lazy-session plugin. */
const plugin = fp(fastifyLazySession, { fastify: '5.x', name: 'fastify-lazy-session' })

export default plugin
export { plugin as fastifyLazySession }
