import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { InvalidOptionError, SessionNotLoadedError } from './errors.ts'
import { normalizeOptions, type FastifyLazySessionOptions, type NormalizedOptions } from './options.ts'
import { RequestSession, SessionRuntime } from './RequestSession.ts'
import type { Session } from './Session.ts'
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
      /** `true`: load the session before this route's handler; `false`: never autoload here (overrides the plugin's `autoload`). */
      autoload?: boolean
    }
  }
}

const kSession = Symbol('fastify-lazy-session')

declare module 'fastify' {
  interface FastifyRequest {
    [kSession]: RequestSession | null
  }
}

/** Loads the session before the handler: the route's first preHandler. */
const autoload: preHandlerAsyncHookHandler = async function autoload (request) {
  await request.loadSession()
}

function pathOf (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/** `/admin` matches `/admin` and `/admin/...`, not `/administrator`. */
function pathMatcher (options: NormalizedOptions): (path: string) => boolean {
  const prefixes = options.autoloadPrefixes.map((prefix) => prefix.endsWith('/') ? prefix : prefix + '/')
  const exact = options.autoloadPrefixes
  const patterns = options.autoloadPatterns
  return (path) => exact.includes(path) || prefixes.some((prefix) => path.startsWith(prefix)) || patterns.some((pattern) => pattern.test(path))
}

function routeAutoload (route: RouteOptions, options: NormalizedOptions, matches: (path: string) => boolean): preHandlerAsyncHookHandler | null {
  const config = (route.config as { session?: { autoload?: unknown } } | undefined)?.session?.autoload
  if (config !== undefined && typeof config !== 'boolean') {
    throw new InvalidOptionError(`\`config.session.autoload\` of route ${route.method} ${route.url} must be a boolean`)
  }
  if (config === true || (config === undefined && options.autoloadAll)) return autoload
  if (config === false || (options.autoloadPrefixes.length === 0 && options.autoloadPatterns.length === 0)) return null
  // A static URL is decided now; a parametric one by each request's path.
  if (!/[:*]/.test(route.url)) return matches(route.url) ? autoload : null
  return async function autoloadByPath (request) {
    if (matches(pathOf(request.url))) await request.loadSession()
  }
}

/** The HEAD route Fastify adds for a GET comes through onRoute with the GET's options as they were before. */
function addFirstPreHandler (route: RouteOptions, hook: preHandlerAsyncHookHandler): void {
  const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
  route.preHandler = [hook, ...existing]
}

async function fastifyLazySession (fastify: FastifyInstance, options: FastifyLazySessionOptions): Promise<void> {
  const normalized = normalizeOptions(options as unknown as Record<string, unknown>)
  // @fastify/cookie is used for parsing and serialising, but not registered: its onSend hook would run on every
  // request. An app that registers it (before or after this plugin) keeps it, and its parsed request.cookies are used.
  const runtime = new SessionRuntime(normalized, fastify)
  const matches = pathMatcher(normalized)

  fastify.decorate('sessions', new StoreUserSessions(normalized))
  fastify.decorateRequest(kSession, null)
  fastify.decorateRequest('loadSession', function loadSession (this: FastifyRequest): Promise<Session> {
    let state = this[kSession]
    if (state === null) {
      state = new RequestSession(runtime, this)
      this[kSession] = state
    }
    return state.promise
  })
  fastify.decorateRequest('session', {
    getter (this: FastifyRequest): Session {
      const session = this[kSession]?.session
      if (session == null) throw new SessionNotLoadedError()
      return session
    }
  })
  fastify.decorateRequest('sessionLoaded', {
    getter (this: FastifyRequest): boolean {
      return this[kSession]?.session != null
    }
  })

  fastify.addHook('onRoute', (route) => {
    const hook = routeAutoload(route, normalized, matches)
    if (hook !== null) addFirstPreHandler(route, hook)
  })

  fastify.addHook('onSend', function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void) {
    const state = request[kSession]
    if (state === null) {
      done(null, payload)
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
    else pending.then(() => { done(null, payload) }, done)
  })

  fastify.addHook('onClose', async () => {
    await runtime.store?.close?.()
  })
}

/** The fastify-lazy-session plugin. */
const plugin = fp(fastifyLazySession, { fastify: '5.x', name: 'fastify-lazy-session' })

export default plugin
export { plugin as fastifyLazySession }
