// migrateFrom: moves a @fastify/session session into a new session of ours the first time its user comes back.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { stringifySetCookie } from 'cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidOptionError, SessionStoreUnavailableError } from './errors.ts'
import { callStore, DEFAULT_TIMEOUT } from './stores/connectStore.ts'
import type { Serializer } from './types.ts'

type Callback = (error?: unknown, value?: unknown) => void

/** The old store: what @fastify/session (and express-session) use — callback `get` and `destroy`. */
export interface MigrateFromStore {
  get (sid: string, callback: Callback): unknown
  destroy (sid: string, callback: Callback): unknown
}

/** Option `migrateFrom`: where the sessions of @fastify/session live, and how its cookie is signed. */
export interface MigrateFromOptions {
  /** @fastify/session's `cookieName`. @default 'sessionId' */
  cookieName?: string
  /** @fastify/session's `secret`: a string or a list (every one verifies, as @fastify/cookie's signer does). */
  secret: string | string[]
  /** @fastify/session's `store` (its MemoryStore, connect-redis, connect-pg-simple…). */
  store: MigrateFromStore
  /** The old cookie's `path` and `domain`, so that its deletion cookie replaces it. @default { path: '/' } */
  cookie?: { path?: string, domain?: string }
}

// RFC 6265 cookie-name = token
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** The keys of a @fastify/session session that are not data. */
const NOT_DATA = new Set(['cookie', 'sessionId', 'encryptedSessionId'])

function invalid (message: string): never {
  throw new InvalidOptionError(`\`migrateFrom\`: ${message}`)
}

/** What RequestSession gives the migration of the plugin registration. */
export interface MigrationContext {
  parseCookie: (header: string) => Record<string, string | undefined>
  options: { serializer: Serializer }
}

/**
 * Adopts the old session's data (already serialized) as a new session of ours and resolves with the value of our
 * cookie for it; `undefined` when it could not be stored (the old session is then left as it is).
 */
export type Adopt = (data: Map<string, string>) => Promise<string | undefined>

/** One registration's migration from @fastify/session. */
export class SessionMigration {
  readonly cookieName: string
  readonly #secrets: string[]
  readonly #store: MigrateFromStore
  readonly #deletion: string
  /** old session ID → the migration under way: concurrent requests with one old cookie share it (one new session) */
  readonly #inFlight = new Map<string, Promise<string | undefined | null>>()
  /** requests whose response clears the old cookie */
  readonly #clear = new WeakSet<FastifyRequest>()

  constructor (options: MigrateFromOptions) {
    this.cookieName = options.cookieName ?? 'sessionId'
    this.#secrets = Array.isArray(options.secret) ? options.secret : [options.secret]
    this.#store = options.store
    const prefixed = /^__(Secure|Host)-/.test(this.cookieName)
    this.#deletion = stringifySetCookie({ name: this.cookieName, value: '', path: options.cookie?.path ?? '/', domain: options.cookie?.domain, expires: new Date(0), secure: prefixed })
  }

  /** The old session's ID in a cookie value signed the way @fastify/cookie signs (`value.signature`), or `null`. */
  unsign (signed: string): string | null {
    const dot = signed.lastIndexOf('.')
    if (dot <= 0 || dot === signed.length - 1) return null
    const value = signed.slice(0, dot)
    const given = Buffer.from(signed.slice(dot + 1))
    for (const secret of this.#secrets) {
      // cookie-signature: HMAC-SHA256, base64 without its padding.
      const expected = Buffer.from(createHmac('sha256', secret).update(value).digest('base64').replace(/=/g, ''))
      if (expected.length === given.length && timingSafeEqual(expected, given)) return value
    }
    return null
  }

  /**
   * For a request without a session cookie of ours: when it carries a valid @fastify/session cookie whose session
   * exists, moves that session's data into a new session of ours (through `adopt`), destroys the old one and clears
   * its cookie. Resolves with the value of our new cookie, or `undefined` when there was nothing to migrate.
   */
  async migrate (request: FastifyRequest, context: MigrationContext, adopt: Adopt): Promise<string | undefined> {
    const cookies = (request as { cookies?: Record<string, string | undefined> | null }).cookies
    const header = request.headers.cookie
    const signed = cookies != null ? cookies[this.cookieName] : header === undefined ? undefined : context.parseCookie(header)[this.cookieName]
    if (signed === undefined || signed === '') return undefined
    const sid = this.unsign(signed)
    if (sid === null) return undefined
    let migration = this.#inFlight.get(sid)
    if (migration === undefined) {
      migration = this.#move(sid, context.options.serializer, adopt)
      this.#inFlight.set(sid, migration)
      const done = (): void => { this.#inFlight.delete(sid) }
      migration.then(done, done)
    }
    const moved = await migration
    // Taken over, or gone from the old store: either way the old cookie has no use left.
    if (moved !== null) this.#clear.add(request)
    return moved ?? undefined
  }

  /** Our new cookie's value; `undefined`: nothing to move (the old session is gone); `null`: ours could not be stored, the old one is kept. */
  async #move (sid: string, serializer: Serializer, adopt: Adopt): Promise<string | undefined | null> {
    const old = await this.#call<Record<string, unknown> | null | undefined>('get', sid)
    if (old == null) return undefined
    const expires = (old.cookie as { expires?: unknown } | undefined)?.expires
    const data = new Map<string, string>()
    // An expired session (as @fastify/session decides it: cookie.expires passed) is removed, not carried over.
    if (!(typeof expires === 'string' || expires instanceof Date) || new Date(expires).getTime() > Date.now()) {
      for (const key of Object.keys(old)) {
        if (!NOT_DATA.has(key) && old[key] !== undefined) data.set(key, serializer.serialize(old[key]))
      }
    }
    let value: string | undefined
    if (data.size > 0) {
      value = await adopt(data)
      if (value === undefined) return null
    }
    await this.#call('destroy', sid)
    return value
  }

  /** Calls the old store; a failure becomes FST_SESSION_STORE_UNAVAILABLE without the old session's ID in it. */
  async #call<T> (method: 'get' | 'destroy', sid: string): Promise<T> {
    try {
      return await callStore<T>(this.#store, this.#store[method], [sid], DEFAULT_TIMEOUT)
    } catch (error) {
      const message = (error as Error).message.split(sid).join('[session id]')
      throw new SessionStoreUnavailableError(`migrateFrom ${method}`, { cause: new Error(message) })
    }
  }

  /** onSend: the deletion cookie for the old session's cookie, on the responses that migrated (or found it gone). */
  clearOldCookie (request: FastifyRequest, reply: FastifyReply): void {
    if (this.#clear.has(request)) reply.header('set-cookie', this.#deletion)
  }
}

/** Checks option `migrateFrom` once, at `register`; `null` when it is not set. */
export function normalizeMigrateFrom (value: unknown): SessionMigration | null {
  if (value === undefined) return null
  if (typeof value !== 'object' || value === null) invalid('must be { cookieName, secret, store }')
  const options = value as Record<string, unknown>
  const cookieName = options.cookieName ?? 'sessionId'
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName)) invalid('`cookieName` must be a valid cookie name (an RFC 6265 token)')
  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret]
  if (secrets.length === 0 || !secrets.every((s) => typeof s === 'string' && s.length > 0)) {
    invalid('`secret` must be @fastify/session\'s secret: a non-empty string or an array of them')
  }
  const store = options.store as Record<string, unknown> | null | undefined
  if (typeof store !== 'object' || store === null || typeof store.get !== 'function' || typeof store.destroy !== 'function') {
    invalid('`store` must be @fastify/session\'s store (with get and destroy)')
  }
  const cookie = options.cookie
  if (cookie !== undefined) {
    const { path, domain } = (typeof cookie === 'object' && cookie !== null ? cookie : invalid('`cookie` must be { path, domain }')) as Record<string, unknown>
    if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) invalid('`cookie.path` must start with "/"')
    if (domain !== undefined && typeof domain !== 'string') invalid('`cookie.domain` must be a host name')
  }
  return new SessionMigration(value as MigrateFromOptions)
}
