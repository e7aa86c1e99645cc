import { parseCookie, stringifySetCookie, type SetCookie } from 'cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  createdChannel, destroyedChannel, loadedChannel, refusedChannel, regeneratedChannel, revokedChannel, savedChannel, sessionEvent,
  storeChannel, storeName, traced, traceStore, type RefusedReason, type StoreOperation
} from './channels.ts'
import { SessionStoreUnavailableError, SessionTooLargeError } from './errors.ts'
import type { SessionMigration } from './migrate.ts'
import type { NormalizedOptions } from './options.ts'
import { internals, type Session, type SessionChanges, type SessionControl, type SessionWithData } from './Session.ts'
import { generateId, handleOf, IdSigner, storeKeyOf } from './signing.ts'
import { CookieStore, cookieSize } from './stores/CookieStore.ts'
import { immediateOf, type SessionDevice, type SessionInfo, type SessionReason, type SessionRecord, type SessionStore, type SessionUpdate } from './types.ts'

/**
 * A route's own `Cache-Control` made safe for a response that sets the session cookie: a shared cache must not
 * store it, so `public` becomes `private`, `s-maxage` goes, and a bare `max-age` gets `private`.
 */
export function privateCacheControl (value: string): string {
  const directives = value.split(',').map((directive) => directive.trim()).filter((directive) => directive !== '')
  const names = directives.map((directive) => (directive.split('=', 1)[0] as string).trim().toLowerCase())
  const has = (name: string): boolean => names.includes(name)
  const shared = has('public') || has('s-maxage') || (has('max-age') && !has('private') && !has('no-store') && !has('no-cache'))
  if (!shared) return value
  return ['private', ...directives.filter((_, i) => names[i] !== 'public' && names[i] !== 's-maxage' && names[i] !== 'private')].join(', ')
}

/** Whether the stored device information is the same as this request's, field by field. */
function sameDevice (device: SessionDevice, stored: SessionDevice | null): boolean {
  return stored !== null && device.ip === stored.ip && device.userAgent === stored.userAgent && device.label === stored.label
}

const NO_VALUES: readonly string[] = Object.freeze([])

/** Store work that the embedded stores finish synchronously comes back as a value, other stores' as a Promise. */
function isPromise<T> (value: T | Promise<T>): value is Promise<T> {
  return value instanceof Promise
}

/** A store's answer as a native Promise (a store may return any thenable, or break its contract with a value). */
function promised<T> (answer: T | PromiseLike<T>): Promise<T> {
  return answer instanceof Promise ? answer : Promise.resolve(answer)
}

/** One save on its way to the store: what #write works out before the store call, for the steps after it. */
interface Write {
  id: string
  create: boolean
  changes: SessionChanges
  now: number
  expiresAt: number | null
  /** a new session, not a regenerated one */
  created: boolean
  key: string
  user: string | null | undefined
  device: SessionDevice | undefined
}
const ignore = (): void => {}

/** Spaces and tabs around a cookie's name and value are not part of them (as `cookie` trims them). */
function isBlank (code: number): boolean {
  return code === 0x20 || code === 0x09
}

/**
 * The value `cookie`'s `parse(header)[name]` gives when `name` occurs in `header` only once, at `at`, without
 * building the object of every cookie: the pair around `at`, if its name is `name`, trimmed and URL-decoded.
 */
export function pairValue (header: string, name: string, at: number): string | undefined {
  const start = header.lastIndexOf(';', at - 1) + 1
  const eq = header.indexOf('=', start)
  let end = header.indexOf(';', start)
  if (end === -1) end = header.length
  if (eq === -1 || eq > end || eq < at + name.length) return undefined
  for (let i = start; i < at; i++) if (!isBlank(header.charCodeAt(i))) return undefined
  for (let i = at + name.length; i < eq; i++) if (!isBlank(header.charCodeAt(i))) return undefined
  let from = eq + 1
  while (from < end && isBlank(header.charCodeAt(from))) from++
  while (end > from && isBlank(header.charCodeAt(end - 1))) end--
  const value = header.slice(from, end)
  if (value.indexOf('%') === -1) return value
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/**
 * The session cookie's `Set-Cookie` values, as @fastify/cookie's `serialize` writes them (same `cookie` module),
 * worked out once per registration: only the value and `Max-Age` change from one response to the next, and the
 * values (base64url, or an ID and its signature) never need the module's encoding or validation.
 */
export class SetCookieWriter {
  readonly #prefix: string
  readonly #suffix: string
  /** the deletion cookie: empty value, `Max-Age=0` and `Expires` in 1970 */
  readonly deletion: string

  constructor (cookie: NormalizedOptions['cookie']) {
    const attributes: SetCookie = {
      name: cookie.name,
      value: 'v',
      path: cookie.path,
      domain: cookie.domain,
      sameSite: cookie.sameSite,
      secure: cookie.secure,
      httpOnly: cookie.httpOnly,
      partitioned: cookie.partitioned
    }
    const sample = stringifySetCookie(attributes)
    this.#prefix = cookie.name + '='
    this.#suffix = sample.slice(this.#prefix.length + 1)
    this.deletion = stringifySetCookie({ ...attributes, value: '', maxAge: 0, expires: new Date(0) })
  }

  /** A live cookie: `Max-Age` right after the value, where `cookie` puts it; `undefined`: a browser-session cookie. */
  live (value: string, maxAge: number | undefined): string {
    return maxAge === undefined ? this.#prefix + value + this.#suffix : this.#prefix + value + '; Max-Age=' + maxAge + this.#suffix
  }
}

/** When a lifetime that starts at `start` ends: `null` for a browser-session cookie (lifetime 0). */
function lifetimeEnd (start: number, lifetime: number): number | null {
  return lifetime > 0 ? start + lifetime : null
}

/** What one plugin registration shares between its requests. */
export class SessionRuntime {
  readonly options: NormalizedOptions
  readonly signer: IdSigner
  /** the server-side store, or `null` with a CookieStore */
  readonly store: SessionStore | null
  readonly cookieStore: CookieStore | null
  /** what events and traces call the store */
  readonly storeName: string
  readonly setCookie: SetCookieWriter
  /** the app's @fastify/cookie parser (its parse options) when registered, else `cookie`'s, the one @fastify/cookie wraps */
  readonly parseCookie: (header: string) => Record<string, string | undefined>

  constructor (options: NormalizedOptions, fastify: FastifyInstance) {
    this.options = options
    this.signer = new IdSigner(options.secrets)
    // The app's own @fastify/cookie (its parseOptions) when it registered one before this plugin.
    const registered = (fastify as { parseCookie?: (header: string) => Record<string, string | undefined> }).parseCookie
    this.parseCookie = registered ?? parseCookie
    this.storeName = storeName(options.store)
    this.setCookie = new SetCookieWriter(options.cookie)
    if (options.store instanceof CookieStore) {
      this.cookieStore = options.store
      this.cookieStore.useSecrets(options.secrets, options.cookie.name)
      this.store = null
    } else {
      this.cookieStore = null
      this.store = options.store
    }
  }

  /** A new, empty session's record. */
  freshRecord (now: number): SessionRecord {
    const lifetime = this.options.lifetime
    return { data: new Map(), createdAt: now, lastAccessAt: now, expiresAt: lifetime > 0 ? now + lifetime : null }
  }

  /** Whether the server refuses this session now: lifetime, absolute or idle timeout passed. */
  expired (record: SessionRecord, now: number): boolean {
    const { absoluteTimeout, idleTimeout } = this.options
    return (record.expiresAt !== null && now >= record.expiresAt) ||
      (absoluteTimeout > 0 && now - record.createdAt >= absoluteTimeout) ||
      (idleTimeout > 0 && now - record.lastAccessAt >= idleTimeout)
  }

  /** Seconds until the server would refuse the session anyway, or `null` when nothing bounds it. */
  ttl (createdAt: number, lastAccessAt: number, expiresAt: number | null, now: number): number | null {
    const { absoluteTimeout, idleTimeout } = this.options
    let deadline = expiresAt ?? Infinity
    if (absoluteTimeout > 0) deadline = Math.min(deadline, createdAt + absoluteTimeout)
    if (idleTimeout > 0) deadline = Math.min(deadline, lastAccessAt + idleTimeout)
    return deadline === Infinity ? null : Math.max(1, Math.ceil((deadline - now) / 1000))
  }

  /** Whether a skip header turns session handling off for this request. */
  skipped (request: FastifyRequest): boolean {
    for (const { name, value } of this.options.skipHeaders) {
      const header = request.headers[name]
      if (header !== undefined && (value === null || header === value)) return true
    }
    return false
  }

  /**
   * Every non-empty value of the session cookie in the request, in header order. Several come only when another
   * subdomain or path tossed one in (a browser sends the more specific path first), so the header is read pair
   * by pair then: @fastify/cookie's `request.cookies` keeps one of them.
   */
  cookieValues (request: FastifyRequest): readonly string[] {
    const header = request.headers.cookie
    if (header === undefined) return NO_VALUES
    const name = this.options.cookie.name
    const first = header.indexOf(name)
    if (first === -1) return NO_VALUES
    if (header.indexOf(name, first + 1) === -1) {
      const cookies = (request as { cookies?: Record<string, string | undefined> | null }).cookies
      const value = cookies != null
        ? cookies[name]
        : this.parseCookie === parseCookie ? pairValue(header, name, first) : this.parseCookie(header)[name]
      return value === undefined || value === '' ? NO_VALUES : [value]
    }
    const values: string[] = []
    // Each `;`-separated pair through the same parser, so a pair means here what it means everywhere else.
    for (const pair of header.split(';')) {
      const value = this.parseCookie(pair)[name]
      if (value !== undefined && value !== '') values.push(value)
    }
    return values
  }

  /** The user a `userKey` value names: a non-empty string, or a finite number as a string; anything else is no user. */
  userOf (text: string | undefined): string | null {
    if (text === undefined) return null
    const value = this.options.serializer.deserialize(text)
    if (typeof value === 'string') return value === '' ? null : value
    return typeof value === 'number' && Number.isFinite(value) ? String(value) : null
  }
}

/**
 * The store failure to throw or log: a generic FST_SESSION_STORE_UNAVAILABLE (its message reaches the client) whose
 * `cause` is the store's own error (logged, never sent). Stores only ever see hashed keys, so no ID is in it.
 */
export function storeFailure (action: string, error: unknown): Error {
  return new SessionStoreUnavailableError(action, { cause: error instanceof Error ? error : new Error(String(error)) })
}

type CookieAction = 'set' | 'clear' | null

/** Where each request's queue of store work starts: settled, so sharing it shares nothing that changes. */
const IDLE = Promise.resolve()

/** The session of one request: loads it once, carries out regenerate/destroy/touch/save, and commits it in onSend. */
export class RequestSession implements SessionControl {
  readonly #runtime: SessionRuntime
  readonly #request: FastifyRequest
  /** what `loadSession()` resolves with: the session as the application sees it (property access) */
  readonly promise: Promise<SessionWithData>
  session: Session | null = null
  /** the store key (hash of the ID) the store holds this session under, or `null` */
  #storeKey: string | null = null
  /** the last ID whose store key was computed, and that key: hashed once per request */
  #keyId: string | null = null
  #key = ''
  /** the handle of `#key`, computed when first asked for (`''` until then) */
  #handle = ''
  /** the next save creates the session under `session.id` (new or regenerated) */
  #create = false
  /** a skip header: no session handling at all */
  #skipped = false
  /** nothing more is stored and no live cookie is written (the store failed under 'fresh', or the session is gone) */
  #detached = false
  /** another request destroyed or regenerated the session meanwhile: its cookie stands, so this one sends none */
  #gone = false
  /** the load failed under 'fresh': a logout in this request cannot remove the session the cookie names */
  #loadFailure: Error | null = null
  /** the request carried one session cookie: a bad one gets a deletion cookie (never when several were tossed in) */
  #incoming = false
  /** the cookie was signed or sealed with an older secret */
  #stale = false
  #touched = false
  /** rolling: the TTL and cookie were refreshed in this request */
  #rolled = false
  #cookie: CookieAction = null
  /** the sealed value to send (CookieStore) */
  #sealed = ''
  /** the user the stored session is bound to (`userKey`), as far as this request knows */
  #user: string | null = null
  /** the device information stored with the session */
  #device: SessionDevice | null = null
  /** CookieStore: the signed-in cookie this request opened, checked again before it is re-sealed (a revokeAll meanwhile) */
  #opened: { user: string, handle: string, sealedAt: number } | null = null
  /** an expired session's store key, to remove it at the end of the request */
  #expiredKey: string | null = null
  #queue: Promise<void> = IDLE
  /** store work queued and not settled yet */
  #pending = 0
  #finished = false

  constructor (runtime: SessionRuntime, request: FastifyRequest) {
    this.#runtime = runtime
    this.#request = request
    let loaded: Session | Promise<Session>
    try {
      loaded = this.#load()
    } catch (error) {
      loaded = Promise.reject(error)
    }
    this.promise = isPromise(loaded) ? loaded.then(internals.exposed) : Promise.resolve(internals.exposed(loaded))
  }

  /** The opaque handle of the session (what logs, events and `app.sessions` name it by), or `null` before it is stored. */
  get handle (): string | null {
    const id = this.session?.id ?? null
    return id === null ? null : this.#handleOf(id)
  }

  /** The store key of `id`, hashed once per ID. */
  #keyOf (id: string): string {
    if (this.#keyId !== id) {
      this.#keyId = id
      this.#key = storeKeyOf(id)
      this.#handle = ''
    }
    return this.#key
  }

  /** The handle of `id`, hashed once per ID and only when something needs it (a save, a log line, `session.handle`). */
  #handleOf (id: string): string {
    const key = this.#keyOf(id)
    if (this.#handle === '') this.#handle = handleOf(key)
    return this.#handle
  }

  /**
   * Loads the session: synchronously whenever nothing has to wait (no cookie, a cookie that does not verify, a
   * CookieStore, the embedded MemoryStore), else a Promise. Throws (or rejects) FST_SESSION_STORE_UNAVAILABLE.
   */
  #load (): Session | Promise<Session> {
    const runtime = this.#runtime
    const now = Date.now()
    if (runtime.skipped(this.#request)) {
      this.#skipped = true
      this.#detached = true
      return this.#fresh('new', now)
    }
    const values = runtime.cookieValues(this.#request)
    if (values.length === 0 && runtime.options.migrateFrom !== null) {
      return this.#migrate().then((migrated) => this.#open(migrated !== undefined && migrated !== '' ? [migrated] : NO_VALUES, now))
    }
    return this.#open(values, now)
  }

  /** The session the first of `values` that verifies names, or a fresh one. */
  #open (values: readonly string[], now: number): Session | Promise<Session> {
    const runtime = this.#runtime
    if (values.length === 0) return this.#fresh('new', now)
    if (values.length > 1) {
      this.#request.log.warn({ cookies: values.length }, 'fastify-lazy-session: several session cookies in one request (one may have been tossed in by another subdomain or path); the first that verifies is used')
    }
    this.#incoming = values.length === 1
    let id: string | null = null
    let record: SessionRecord | null = null
    const cookieStore = runtime.cookieStore
    for (let i = 0; i < values.length && id === null; i++) {
      const value = values[i] as string
      if (cookieStore !== null) {
        const opened = cookieStore.open(value)
        if (opened === null) continue
        ;({ id, record } = opened)
        this.#stale = opened.stale
      } else {
        const verified = runtime.signer.verify(value)
        if (verified === null) continue
        id = verified.id
        this.#stale = verified.stale
        this.#keyId = id
        this.#key = verified.key
      }
    }
    if (id === null) return this.#rejected('invalid', now)
    const key = this.#keyOf(id)
    if (cookieStore !== null) return this.#accept(id, key, record as SessionRecord, now)
    const store = runtime.store as SessionStore
    const immediate = immediateOf(store)
    let found: SessionRecord | null | Promise<SessionRecord | null>
    try {
      found = this.#traced('load', key, immediate !== null ? () => immediate.load(key) : () => promised(store.load(key)))
    } catch (error) {
      return this.#loadFailed(error, now)
    }
    if (isPromise(found)) return found.then((stored) => this.#found(id, key, stored, now), (error: unknown) => this.#loadFailed(error, now))
    return this.#found(id, key, found, now)
  }

  /** A failed store call while loading: throws under 'fail', a fresh session under 'fresh'. */
  #loadFailed (error: unknown, now: number): Session {
    this.#storeFailed('load', error)
    this.#loadFailure = storeFailure('load', error)
    return this.#fresh('new', now)
  }

  #found (id: string, key: string, record: SessionRecord | null, now: number): Session | Promise<Session> {
    if (record === null) return this.#rejected('not-found', now, this.#handleOf(id))
    return this.#accept(id, key, record, now)
  }

  /** A stored or sealed session that verified: refused when expired or revoked, else the request's session. */
  #accept (id: string, key: string, loaded: SessionRecord, now: number): Session | Promise<Session> {
    const runtime = this.#runtime
    const cookieStore = runtime.cookieStore
    if (runtime.expired(loaded, now)) {
      this.#expiredKey = cookieStore === null ? key : null
      return this.#rejected('expired', now, this.#handleOf(id))
    }
    const user = loaded.user ?? null
    if (user === null || cookieStore === null) return this.#loaded(id, key, loaded, user)
    const handle = this.#handleOf(id)
    let revoked: boolean | Promise<boolean>
    try {
      revoked = this.#traced('revoked', key, () => cookieStore.revokedNow(user, handle, loaded.lastAccessAt))
    } catch (error) {
      return this.#loadFailed(error, now)
    }
    const admit = (revoked: boolean): Session => {
      if (revoked) return this.#rejected('revoked', now, handle)
      this.#opened = { user, handle, sealedAt: loaded.lastAccessAt }
      return this.#loaded(id, key, loaded, user)
    }
    if (isPromise(revoked)) return revoked.then(admit, (error: unknown) => this.#loadFailed(error, now))
    return admit(revoked)
  }

  #loaded (id: string, key: string, loaded: SessionRecord, user: string | null): Session {
    this.#storeKey = key
    this.#user = user
    this.#device = loaded.device ?? null
    this.#publish(loadedChannel, id)
    this.session = internals.create(this, this.#runtime.options.serializer, id, loaded, 'loaded')
    return this.session
  }

  /** migrateFrom: the old session's data stored as a new session of ours; resolves our cookie's value for it, if any. */
  async #migrate (): Promise<string | undefined> {
    const runtime = this.#runtime
    try {
      const value = await (runtime.options.migrateFrom as SessionMigration).migrate(this.#request, runtime, async (data) => {
        this.session = internals.create(this, runtime.options.serializer, null, { ...runtime.freshRecord(Date.now()), data }, 'loaded')
        await this.#persist()
        const id = this.session.id
        this.session = null
        if (this.#detached || id === null) return undefined
        return runtime.cookieStore === null ? runtime.signer.sign(id) : this.#sealed
      })
      // Loaded below like any cookie of ours; this response sends it.
      if (value !== undefined) this.#cookie = 'set'
      return value
    } catch (error) {
      // The migration's errors carry no session ID already.
      this.#storeFailed('migrate', error)
      return undefined
    }
  }

  #fresh (reason: SessionReason, now: number): Session {
    this.session = internals.create(this, this.#runtime.options.serializer, null, this.#runtime.freshRecord(now), reason)
    return this.session
  }

  /** Bad client input is never an error: a fresh session, and a debug line without the cookie or ID. */
  #rejected (reason: RefusedReason, now: number, handle: string | null = null): Session {
    this.#request.log.debug({ reason, handle: handle ?? undefined }, 'fastify-lazy-session: session cookie refused, starting a new session')
    if (refusedChannel.hasSubscribers) refusedChannel.publish({ request: this.#request, handle, store: this.#runtime.storeName, reason })
    return this.#fresh(reason, now)
  }

  /** Under 'fail' throws FST_SESSION_STORE_UNAVAILABLE; under 'fresh' logs and stops storing anything for this request. */
  #storeFailed (action: string, error: unknown): void {
    const failure = storeFailure(action, error)
    if (this.#runtime.options.onStoreError === 'fail') throw failure
    // The session the failed call was about, the last one keyed (a load fails before `this.handle` exists).
    this.#request.log.warn({ err: failure, handle: this.#handleOf(this.#keyId as string) }, `fastify-lazy-session: store ${action} failed; this request's session is not stored`)
    this.#detached = true
  }

  /** Runs store work one piece at a time, in call order. */
  #serial (work: () => void | Promise<void>): Promise<void> {
    this.#pending++
    const next = this.#queue.then(work)
    const settled = (): void => { this.#pending-- }
    this.#queue = next.then(settled, settled)
    return next
  }

  /** Calls the store; a failure throws FST_SESSION_STORE_UNAVAILABLE, or under 'fresh' detaches the session. */
  /** Runs store work now when nothing is queued before it (so it may finish synchronously), else after the queue. */
  #run (work: () => void | Promise<void>): void | Promise<void> {
    if (this.#pending > 0) return this.#serial(work)
    const result = work()
    if (isPromise(result)) {
      this.#pending++
      const settled = (): void => { this.#pending-- }
      this.#queue = result.then(settled, settled)
    }
    return result
  }

  /**
   * Calls the store (now, or a Promise); a failure throws FST_SESSION_STORE_UNAVAILABLE, or under 'fresh' detaches
   * the session and gives `undefined`.
   */
  #storeCall<T> (action: string, operation: StoreOperation, key: string, call: () => T | Promise<T>): T | undefined | Promise<T | undefined> {
    let result: T | Promise<T>
    try {
      result = this.#traced(operation, key, call)
    } catch (error) {
      this.#storeFailed(action, error)
      return undefined
    }
    if (!isPromise(result)) return result
    return result.then(undefined, (error: unknown) => {
      this.#storeFailed(action, error)
      return undefined
    })
  }

  /** A store call about the session under `key`, inside the `fastify-lazy-session:store` tracing channel when someone listens. */
  #traced<T> (operation: StoreOperation, key: string, call: () => T | Promise<T>): T | Promise<T> {
    if (!storeChannel.hasSubscribers) return call()
    const handle = key === this.#key ? this.#handleOf(this.#keyId as string) : handleOf(key)
    return traceStore({ operation, request: this.#request, handle, store: this.#runtime.storeName }, call)
  }

  /** Publishes a lifecycle event of the session `id` when someone listens (its handle is hashed only then). */
  #publish (channel: typeof savedChannel, id: string): void {
    if (channel.hasSubscribers) channel.publish(sessionEvent(this.#request, this.#runtime.storeName, this.#handleOf(id)))
  }

  /**
   * Removes the stored session for a logout (destroy, regenerate, emptied): never under 'fresh' rules, a removal
   * that did not happen throws. `false` when the store says there was none left to remove.
   */
  async #removeStored (action: string): Promise<boolean> {
    if (this.#loadFailure !== null) throw storeFailure(action, this.#loadFailure.cause)
    const key = this.#storeKey
    const store = this.#runtime.store
    if (key === null || store === null) return true
    let removed: boolean
    try {
      const immediate = immediateOf(store)
      removed = await this.#traced('destroy', key, immediate !== null ? () => immediate.destroy(key) : () => store.destroy(key))
    } catch (error) {
      const failure = storeFailure(action, error)
      this.#request.log.warn({ err: failure, handle: this.handle }, `fastify-lazy-session: store ${action} failed; the session could not be removed`)
      throw failure
    }
    this.#storeKey = null
    return removed !== false
  }

  regenerate (): Promise<void> {
    return this.#serial(async () => {
      const session = this.session as Session
      if (this.#skipped || this.#gone || (session.id === null && this.#loadFailure === null)) return
      const oldId = session.id
      let removed: boolean
      try {
        removed = await this.#removeStored('regenerate')
      } catch (error) {
        // Nothing more is stored under the old ID in this request: a caught error must not leave it signed in.
        this.#detached = true
        throw error
      }
      if (!removed) {
        // Destroyed (or regenerated) by another request meanwhile: its data does not come back under a new ID.
        this.#goneMeanwhile()
        return
      }
      const newId = generateId()
      internals.setId(session, newId)
      this.#create = true
      if (regeneratedChannel.hasSubscribers && oldId !== null) {
        const oldHandle = this.#handleOf(oldId)
        const newHandle = this.#handleOf(newId)
        regeneratedChannel.publish({ request: this.#request, handle: newHandle, oldHandle, newHandle, store: this.#runtime.storeName })
      }
    })
  }

  destroy (): Promise<void> {
    return this.#serial(async () => {
      const session = this.session as Session
      if (this.#skipped || this.#gone) return
      const id = session.id
      try {
        await this.#removeStored('destroy')
        if (id !== null) this.#publish(destroyedChannel, id)
      } finally {
        // The deletion cookie goes out even when the store failed: the browser at least forgets the session.
        if (this.#incoming || session.id !== null) this.#cookie = 'clear'
        this.#reset()
      }
    })
  }

  touch (): void {
    this.#touched = true
  }

  /** Starts over with a new, empty session: nothing of the old one (binding, device, opened cookie) carries over. */
  #reset (): void {
    this.#storeKey = null
    this.#create = false
    this.#user = null
    this.#device = null
    this.#opened = null
    internals.reset(this.session as Session, this.#runtime.freshRecord(Date.now()))
  }

  save (): void | Promise<void> {
    return this.#run(() => this.#persist())
  }

  /**
   * Another request destroyed or regenerated the session: this request's changes are dropped and it sends no
   * cookie, since the other request already sent the right one (a deletion here would undo a racing login).
   */
  #goneMeanwhile (): void {
    this.#gone = true
    this.#detached = true
    this.#cookie = null
    this.#request.log.debug('fastify-lazy-session: the session was destroyed or regenerated by another request; this request\'s changes are dropped')
    this.#reset()
  }

  /** Writes what the end-of-request rules ask for; decides the cookie. Synchronous when the store answers now. */
  #persist (): void | Promise<void> {
    const work = this.#persistWork()
    if (work !== null) return work()
  }

  /**
   * The synchronous part of #persist: decides the cookie for everything that needs no store call and returns
   * `null`, or returns the store work left to do. Most requests that load a session end here, without a promise.
   */
  #persistWork (): (() => void | Promise<void>) | null {
    const session = this.session as Session
    if (this.#detached) return null
    const runtime = this.#runtime
    const rolling = runtime.options.rolling
    // session.options({ maxAge }) gives this session a lifetime of its own.
    const lifetime = internals.maxAge(session) ?? runtime.options.lifetime
    const resized = internals.maxAgeChange(session) !== undefined
    const now = Date.now()
    const empty = internals.isEmpty(session)
    if (session.id === null || this.#create) {
      if (empty) {
        if (this.#incoming || this.#create) this.#cookie = 'clear'
        return null
      }
      const id = session.id ?? generateId()
      const expiresAt = rolling && lifetime > 0 ? now + lifetime : resized ? lifetimeEnd(session.createdAt, lifetime) : session.expiresAt
      return () => this.#write(id, true, internals.snapshot(session), now, expiresAt)
    }
    const changes = internals.changes(session)
    // Emptied by delete(): saved as deletions, so that keys another request added meanwhile are kept; the store
    // removes a session that the save leaves without data and resolves false (#write then clears the cookie).
    if (empty && (runtime.store === null || changes?.replace === true)) {
      return async () => {
        const id = session.id as string
        try {
          await this.#removeStored('destroy')
          this.#publish(destroyedChannel, id)
        } finally {
          this.#cookie = 'clear'
          this.#reset()
        }
      }
    }
    const idle = runtime.options.idleTimeout
    const activity = idle > 0 && now - session.lastAccessAt >= idle / 10
    const roll = rolling && !this.#rolled
    if (changes === null && !activity && !roll && !this.#touched && !this.#stale && !resized) return null
    const expiresAt = roll && lifetime > 0 ? now + lifetime : resized ? lifetimeEnd(rolling ? now : session.createdAt, lifetime) : session.expiresAt
    // Nothing changed: a touch (an empty change set) refreshes the times and the TTL only.
    const update = changes ?? { replace: false, set: new Map<string, string>(), delete: [] }
    const written = (): void => {
      if (this.#detached) return
      if (roll || this.#touched || this.#stale || resized) this.#cookie = this.#cookie ?? 'set'
      this.#rolled ||= roll
      this.#touched = false
      this.#stale = false
    }
    return () => {
      const writing = this.#write(session.id as string, false, update, now, expiresAt)
      if (isPromise(writing)) return writing.then(written)
      written()
    }
  }

  /** The binding a save carries: the user (or `null`) when the `userKey` changed in it, `undefined` when untouched. */
  #userChange (create: boolean, changes: SessionChanges): string | null | undefined {
    const userKey = this.#runtime.options.userKey
    if (userKey === null) return undefined
    let user: string | null
    if (create || changes.replace || changes.set.has(userKey)) user = this.#runtime.userOf(changes.set.get(userKey))
    else if (changes.delete.includes(userKey)) user = null
    else return undefined
    if (create) return user ?? undefined
    return user === this.#user ? undefined : user
  }

  /** The device to store: always for a new session, else when it differs from the stored one. */
  #deviceChange (create: boolean): SessionDevice | undefined {
    const deviceOf = this.#runtime.options.device
    if (deviceOf === null) return undefined
    const device = deviceOf(this.#request)
    return create || !sameDevice(device, this.#device) ? device : undefined
  }

  /**
   * Stores one save (a CookieStore: seals it) and decides the cookie. Synchronous when the store answers now (the
   * embedded stores), else a Promise.
   */
  #write (id: string, create: boolean, changes: SessionChanges, now: number, expiresAt: number | null): void | Promise<void> {
    const runtime = this.#runtime
    const write: Write = {
      id,
      create,
      changes,
      now,
      expiresAt,
      // a new session, not a regenerated one (which has its new ID already)
      created: create && (this.session as Session).id === null,
      key: this.#keyOf(id),
      user: this.#userChange(create, changes),
      device: this.#deviceChange(create)
    }
    const cookieStore = runtime.cookieStore
    if (cookieStore !== null && this.#opened !== null) {
      // A revokeAll while this request was in flight: re-sealing would give the cookie a time past the cut-off.
      const { user: opener, handle, sealedAt } = this.#opened
      const revoked = this.#storeCall('save', 'revoked', write.key, () => cookieStore.revokedNow(opener, handle, sealedAt))
      const checked = (revoked: boolean | undefined): void | Promise<void> => {
        if (revoked === undefined) return
        if (revoked) {
          this.#goneMeanwhile()
          return
        }
        return this.#commit(write)
      }
      return isPromise(revoked) ? revoked.then(checked) : checked(revoked)
    }
    if (cookieStore !== null) return this.#commit(write)
    const session = this.session as Session
    const store = runtime.store as SessionStore
    const createdAt = session.createdAt
    const ttl = runtime.ttl(createdAt, now, expiresAt, now)
    const key = write.key
    const update: SessionUpdate = { create, ...changes, createdAt, lastAccessAt: now, expiresAt, ttl, handle: this.#handleOf(id) }
    const maxAge = create ? internals.maxAge(session) : internals.maxAgeChange(session)
    if (maxAge !== undefined) update.maxAge = maxAge
    if (write.user !== undefined) update.user = write.user
    if (write.device !== undefined) update.device = write.device
    const immediate = immediateOf(store)
    const saved = this.#storeCall('save', 'save', key, immediate !== null ? () => immediate.save(key, update) : () => promised(store.save(key, update)))
    return isPromise(saved) ? saved.then((saved) => this.#stored(write, saved)) : this.#stored(write, saved)
  }

  /** What a server-side store answered a save: `undefined` when it failed under 'fresh'. */
  #stored (write: Write, saved: boolean | undefined): void | Promise<void> {
    if (saved === undefined) return
    if (!saved) {
      if (internals.isEmpty(this.session as Session)) {
        // This save deleted the last keys: the store removed the session, and the browser forgets it.
        this.#publish(destroyedChannel, write.id)
        this.#cookie = 'clear'
        this.#reset()
      } else {
        this.#goneMeanwhile()
      }
      return
    }
    return this.#commit(write)
  }

  /** The save is stored: it becomes the session's state; a CookieStore seals it now. */
  #commit (write: Write): void | Promise<void> {
    const session = this.session as Session
    const runtime = this.#runtime
    const { id, create, user, device, key } = write
    if (create) this.#user = null
    if (user !== undefined) this.#user = user
    if (device !== undefined) this.#device = device
    internals.committed(session, write.changes)
    internals.setId(session, id)
    internals.setTimes(session, write.now, write.expiresAt)
    this.#storeKey = key
    this.#create = false
    if (runtime.cookieStore !== null) {
      const sealed = runtime.cookieStore.seal(id, { ...internals.record(session), user: this.#user, device: this.#device })
      const size = cookieSize(runtime.options.cookie.name, sealed)
      // Checked before the cookie is queued: a session too large is never sent, not even the part that fits.
      if (size > runtime.cookieStore.maxSize) throw new SessionTooLargeError(size, runtime.cookieStore.maxSize)
      this.#sealed = sealed
      this.#cookie = 'set'
    } else if (create) {
      this.#cookie = 'set'
    }
    if (write.created) this.#publish(createdChannel, id)
    this.#publish(savedChannel, id)
    if (typeof user === 'string' && runtime.options.maxSessionsPerUser > 0) return this.#capped(user, key)
  }

  /** `maxSessionsPerUser` enforced after a binding; a cap that could not be enforced undoes this sign-in. */
  async #capped (user: string, key: string): Promise<void> {
    try {
      await this.#enforceCap(user)
    } catch (error) {
      // A cap that could not be enforced: this sign-in does not stand (removed as far as the store lets us).
      this.#detached = true
      this.#cookie = null
      const store = this.#runtime.store as SessionStore
      await Promise.resolve(this.#traced('destroy', key, () => store.destroy(key))).then(ignore, ignore)
      throw error
    }
  }

  /** `maxSessionsPerUser`: after binding a user, the least recently used sessions beyond the cap are revoked. */
  async #enforceCap (user: string): Promise<void> {
    const store = this.#runtime.store as Required<Pick<SessionStore, 'list' | 'revoke'>>
    const max = this.#runtime.options.maxSessionsPerUser
    const own = this.handle
    const request = this.#request
    const name = this.#runtime.storeName
    let sessions: SessionInfo[]
    try {
      sessions = await traced('list', request, name, null, () => store.list(user))
    } catch (error) {
      throw storeFailure('revoke', error)
    }
    const others = sessions.filter((info) => info.handle !== own).sort((a, b) => b.lastAccessAt - a.lastAccessAt)
    for (const info of others.slice(Math.max(0, max - 1))) {
      let revoked: boolean
      try {
        revoked = await traced('revoke', request, name, info.handle, () => store.revoke(user, info.handle))
      } catch (error) {
        throw storeFailure('revoke', error)
      }
      if (revoked && revokedChannel.hasSubscribers) {
        revokedChannel.publish({ request, handle: info.handle, store: name, reason: 'max-sessions', count: 1, except: null })
      }
    }
  }

  /**
   * onSend: saves what is left and writes the cookie. Runs once per request. Returns `null` when it is done
   * already: the session loaded, no store work queued or left to do (a read, most often).
   */
  finish (reply: FastifyReply): Promise<void> | null {
    if (this.#finished) return null
    this.#finished = true
    if (this.session === null || this.#pending > 0 || this.#expiredKey !== null) return this.#finishLater(reply)
    const work = this.#persistWork()
    if (work === null) {
      this.#end(reply)
      return null
    }
    let saving: void | Promise<void>
    try {
      saving = this.#run(work)
    } catch (error) {
      this.#endFailed(reply)
      throw error
    }
    if (!isPromise(saving)) {
      this.#end(reply)
      return null
    }
    return saving.then(() => { this.#end(reply) }, (error: unknown) => {
      this.#endFailed(reply)
      throw error
    })
  }

  /** finish() when the load has not settled, store work is still queued, or an expired session is to be removed. */
  async #finishLater (reply: FastifyReply): Promise<void> {
    try {
      await this.promise
    } catch {
      return
    }
    try {
      await this.#serial(() => this.#persist())
      const expiredKey = this.#expiredKey
      if (expiredKey !== null) {
        const store = this.#runtime.store as SessionStore
        const immediate = immediateOf(store)
        await this.#storeCall('destroy', 'destroy', expiredKey, immediate !== null ? () => immediate.destroy(expiredKey) : () => promised(store.destroy(expiredKey)))
      }
    } catch (error) {
      this.#endFailed(reply)
      throw error
    }
    this.#end(reply)
  }

  /** The end-of-request work failed: only a deletion cookie still goes out (a logout the store did not carry out). */
  #endFailed (reply: FastifyReply): void {
    if (this.#cookie === 'clear') this.#end(reply)
  }

  #end (reply: FastifyReply): void {
    if (this.#cookie === null || this.#gone || (this.#cookie === 'set' && this.#detached)) return
    this.#writeCookie(reply)
  }

  #writeCookie (reply: FastifyReply): void {
    const runtime = this.#runtime
    const session = this.session as Session
    let header: string
    if (this.#cookie === 'clear' || session.id === null) {
      header = runtime.setCookie.deletion
    } else {
      const lifetime = internals.maxAge(session) ?? runtime.options.lifetime
      const value = runtime.cookieStore === null ? runtime.signer.sign(session.id) : this.#sealed
      const expiresAt = session.expiresAt
      header = runtime.setCookie.live(value, lifetime > 0 && expiresAt !== null ? Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000)) : undefined)
    }
    // Written directly (Fastify appends Set-Cookie headers): works whichever onSend hook runs first.
    reply.header('set-cookie', header)
    const cacheControl = reply.getHeader('cache-control')
    if (cacheControl === undefined) reply.header('cache-control', 'no-store')
    else reply.header('cache-control', privateCacheControl(String(cacheControl)))
  }
}
