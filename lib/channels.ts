/**
 * Session lifecycle events and traced store calls on `node:diagnostics_channel`, the way Fastify and undici publish
 * theirs: channel objects made once here, and no message built unless `hasSubscribers` says someone listens.
 * Messages carry the session's `handle`, never its ID, its cookie or a session value.
 */
import diagnostics from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'

/** The channel names: `diagnostics_channel.subscribe(channels.created, fn)`, `tracingChannel(channels.store)`. */
export const channels = Object.freeze({
  /** a new session was stored for the first time (it has an ID and a cookie from now on) */
  created: 'fastify-lazy-session:created',
  /** a session cookie was accepted and its session loaded */
  loaded: 'fastify-lazy-session:loaded',
  /** a session cookie was refused; the request goes on with a new session (`reason`) */
  refused: 'fastify-lazy-session:refused',
  /** a session was written: created, changed, rolled or touched */
  saved: 'fastify-lazy-session:saved',
  /** `session.regenerate()`: the old session is gone, the data lives on under a new ID */
  regenerated: 'fastify-lazy-session:regenerated',
  /** `session.destroy()`, or a session emptied of every key: removed and its cookie cleared */
  destroyed: 'fastify-lazy-session:destroyed',
  /** sessions revoked through `app.sessions` or by `maxSessionsPerUser` */
  revoked: 'fastify-lazy-session:revoked',
  /** tracing channel around every store call: `tracing:fastify-lazy-session:store:start` etc. */
  store: 'fastify-lazy-session:store'
} as const)

/** What every lifecycle event carries. */
export interface SessionEvent {
  /** the request it happened in, or `null` (an `app.sessions` call) */
  request: FastifyRequest | null
  /** the session's handle (opaque, non-secret), or `null` when no session is known (a cookie that did not verify) */
  handle: string | null
  /** the store's name: `'MemoryStore'`, `'RedisStore'`, `'CookieStore'`, or a custom store's class name */
  store: string
}

/** Why a session cookie was refused. */
export type RefusedReason = 'invalid' | 'expired' | 'not-found' | 'revoked'

/** `fastify-lazy-session:refused` */
export interface SessionRefusedEvent extends SessionEvent {
  reason: RefusedReason
}

/** `fastify-lazy-session:regenerated`; `handle` is the new handle, like `newHandle`. */
export interface SessionRegeneratedEvent extends SessionEvent {
  handle: string
  /** the handle of the session that was removed */
  oldHandle: string
  /** the handle of the session that replaces it */
  newHandle: string
}

/** Why sessions were revoked. */
export type RevokedReason = 'revoke' | 'revoke-all' | 'max-sessions'

/** `fastify-lazy-session:revoked`: one message per call that revoked sessions. */
export interface SessionRevokedEvent extends SessionEvent {
  /** the revoked session's handle; `null` for `revokeAll` (the store reports a count, not the handles) */
  handle: string | null
  /** `'revoke'` (one session), `'revoke-all'`, or `'max-sessions'` (the least recently used beyond `maxSessionsPerUser`) */
  reason: RevokedReason
  /** sessions revoked (a CookieStore's `revokeAll` reports 0: it cannot count cookies) */
  count: number
  /** `revokeAll`: the handle that was kept, or `null` */
  except: string | null
}

/** The store methods that are traced. */
export type StoreOperation = 'load' | 'save' | 'destroy' | 'list' | 'revoke' | 'revokeAll' | 'revoked'

/**
 * The context of one traced store call, the same object on each of `start`, `end`, `asyncStart`, `asyncEnd` and
 * `error`. Subscribers may add their own fields to it (a span, a start time).
 */
export interface StoreCallContext {
  operation: StoreOperation
  /** the request that made the call, or `null` (an `app.sessions` call) */
  request: FastifyRequest | null
  /** the session concerned, or `null` (`list`, `revokeAll`) */
  handle: string | null
  store: string
  /**
   * What the store answered, never session data: `load` → `true` when found; `save`/`destroy`/`revoke`/`revoked` → the
   * store's boolean; `list` → the number of sessions; `revokeAll` → the number revoked. Set on `asyncStart`/`asyncEnd`.
   */
  result?: boolean | number
  /** the store's failure, on `error`, `asyncStart` and `asyncEnd` */
  error?: unknown
}

export const createdChannel = diagnostics.channel(channels.created)
export const loadedChannel = diagnostics.channel(channels.loaded)
export const refusedChannel = diagnostics.channel(channels.refused)
export const savedChannel = diagnostics.channel(channels.saved)
export const regeneratedChannel = diagnostics.channel(channels.regenerated)
export const destroyedChannel = diagnostics.channel(channels.destroyed)
export const revokedChannel = diagnostics.channel(channels.revoked)
export const storeChannel = diagnostics.tracingChannel<unknown, StoreCallContext>(channels.store)

/** The name events give a store: its class name, or `'SessionStore'` for a plain object. */
export function storeName (store: object): string {
  const name = (store.constructor as { name?: unknown } | undefined)?.name
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'SessionStore'
}

/** A lifecycle message; call it only after `channel.hasSubscribers`. */
export function sessionEvent (request: FastifyRequest | null, store: string, handle: string): SessionEvent {
  return { request, handle, store }
}

/** What a store call's result becomes in the context: a count or a flag, never the session data a load returns. */
function summary (result: unknown): boolean | number {
  if (typeof result === 'boolean' || typeof result === 'number') return result
  if (Array.isArray(result)) return result.length
  return result !== null && result !== undefined
}

/**
 * Runs one store call inside the tracing channel, as `TracingChannel.tracePromise` does (start with the context's
 * stores bound, end, then error/asyncStart/asyncEnd when it settles) but with `result` reduced to `summary()`.
 * Callers check `storeChannel.hasSubscribers` first: without a listener the call is made directly.
 */
export function traceStore<T> (context: StoreCallContext, call: () => T | Promise<T>): Promise<T> {
  const { start, end, asyncStart, asyncEnd, error } = storeChannel
  return start.runStores(context, () => {
    let promise: Promise<T>
    try {
      promise = Promise.resolve(call())
    } catch (failure) {
      // A store method that throws instead of rejecting.
      context.error = failure
      error.publish(context)
      end.publish(context)
      throw failure
    }
    end.publish(context)
    return promise.then((result) => {
      context.result = summary(result)
      asyncStart.publish(context)
      asyncEnd.publish(context)
      return result
    }, (failure: unknown) => {
      context.error = failure
      error.publish(context)
      asyncStart.publish(context)
      asyncEnd.publish(context)
      throw failure
    })
  })
}

/** A store call inside the tracing channel when someone listens, else the call itself. */
export function traced<T> (operation: StoreOperation, request: FastifyRequest | null, store: string, handle: string | null, call: () => Promise<T>): Promise<T> {
  if (!storeChannel.hasSubscribers) return call()
  return traceStore({ operation, request, handle, store }, call)
}
