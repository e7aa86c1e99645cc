import { parseCookie, stringifySetCookie, type SetCookie } from 'cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  createdChannel, destroyedChannel, handleOfId, loadedChannel, refusedChannel, regeneratedChannel, savedChannel, sessionEvent,
  storeChannel, storeName, traceStore, type RefusedReason, type StoreOperation
} from './channels.ts'
import { SessionStoreUnavailableError, SessionTooLargeError } from './errors.ts'
import type { NormalizedOptions } from './options.ts'
import { internals, type Session, type SessionChanges, type SessionControl } from './Session.ts'
import { generateId, IdSigner } from './signing.ts'
import { CookieStore, cookieSize } from './stores/CookieStore.ts'
import type { SessionReason, SessionRecord, SessionStore } from './types.ts'

/** A `Set-Cookie` value, as @fastify/cookie's `serialize` writes it (same `cookie` module, default encoding). */
function serializeCookie (name: string, value: string, attributes: Omit<SetCookie, 'name' | 'value'>): string {
  return stringifySetCookie({ name, value, ...attributes })
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
  /** the app's @fastify/cookie parser (its parse options) when registered, else `cookie`'s, the one @fastify/cookie wraps */
  readonly parseCookie: (header: string) => Record<string, string | undefined>

  constructor (options: NormalizedOptions, fastify: FastifyInstance) {
    this.options = options
    this.signer = new IdSigner(options.secrets)
    // The app's own @fastify/cookie (its parseOptions) when it registered one before this plugin.
    const registered = (fastify as { parseCookie?: (header: string) => Record<string, string | undefined> }).parseCookie
    this.parseCookie = registered ?? parseCookie
    this.storeName = storeName(options.store)
    if (options.store instanceof CookieStore) {
      this.cookieStore = options.store
      this.cookieStore.useSecrets(options.secrets)
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

  /** The session cookie's value, parsing the header only when @fastify/cookie did not. */
  cookieValue (request: FastifyRequest): string | undefined {
    const name = this.options.cookie.name
    const cookies = (request as { cookies?: Record<string, string | undefined> | null }).cookies
    if (cookies != null) return cookies[name]
    const header = request.headers.cookie
    return header === undefined ? undefined : this.parseCookie(header)[name]
  }
}

/**
 * The store failure to throw or log, with every occurrence of the session ID taken out: IDs never reach logs.
 * A store that already rejects with FST_SESSION_STORE_UNAVAILABLE (RedisStore does) is passed through.
 */
function storeFailure (action: string, error: unknown, id: string): Error {
  const message = (error instanceof Error ? error.message : String(error)).split(id).join('[session id]')
  if (error instanceof SessionStoreUnavailableError) {
    error.message = message
    return error
  }
  return new SessionStoreUnavailableError(action, { cause: new Error(message) })
}

type CookieAction = 'set' | 'clear' | null

/** Where each request's queue of store work starts: settled, so sharing it shares nothing that changes. */
const IDLE = Promise.resolve()

/** The session of one request: loads it once, carries out regenerate/destroy/touch/save, and commits it in onSend. */
export class RequestSession implements SessionControl {
  readonly #runtime: SessionRuntime
  readonly #request: FastifyRequest
  readonly promise: Promise<Session>
  session: Session | null = null
  /** the ID the store holds this session under, or `null` */
  #storedId: string | null = null
  /** the next save creates the session under `session.id` (new or regenerated) */
  #create = false
  /** nothing is stored and no cookie is written (skip header, or the store failed under 'fresh') */
  #detached = false
  /** the request carried a session cookie */
  #incoming = false
  /** the cookie was signed or sealed with an older secret */
  #stale = false
  #touched = false
  /** rolling: the TTL and cookie were refreshed in this request */
  #rolled = false
  #cookie: CookieAction = null
  /** the sealed value to send (CookieStore) */
  #sealed = ''
  /** an expired session to remove from the store at the end of the request */
  #expiredId: string | null = null
  #queue: Promise<void> = IDLE
  /** store work queued and not settled yet */
  #pending = 0
  #finished = false

  constructor (runtime: SessionRuntime, request: FastifyRequest) {
    this.#runtime = runtime
    this.#request = request
    this.promise = this.#load()
  }

  async #load (): Promise<Session> {
    const runtime = this.#runtime
    const now = Date.now()
    if (runtime.skipped(this.#request)) {
      this.#detached = true
      return this.#fresh('new', now)
    }
    const value = runtime.cookieValue(this.#request)
    if (value === undefined || value === '') return this.#fresh('new', now)
    this.#incoming = true
    let id: string
    let record: SessionRecord | null
    if (runtime.cookieStore !== null) {
      const opened = runtime.cookieStore.open(value)
      if (opened === null) return this.#rejected('invalid', now)
      ;({ id, record } = opened)
      this.#stale = opened.stale
    } else {
      const verified = runtime.signer.verify(value)
      if (verified === null) return this.#rejected('invalid', now)
      id = verified.id
      this.#stale = verified.stale
      const store = runtime.store as SessionStore
      try {
        record = await this.#traced('load', id, () => store.load(id))
      } catch (error) {
        this.#storeFailed('load', error, id)
        return this.#fresh('new', now)
      }
      if (record === null) return this.#rejected('not-found', now, id)
    }
    if (runtime.expired(record, now)) {
      this.#expiredId = runtime.store === null ? null : id
      return this.#rejected('expired', now, id)
    }
    if (loadedChannel.hasSubscribers) loadedChannel.publish(sessionEvent(this.#request, runtime.storeName, id))
    this.#storedId = id
    this.session = internals.create(this, runtime.options.serializer, id, record, 'loaded')
    return this.session
  }

  #fresh (reason: SessionReason, now: number): Session {
    this.session = internals.create(this, this.#runtime.options.serializer, null, this.#runtime.freshRecord(now), reason)
    return this.session
  }

  /** Bad client input is never an error: a fresh session, and a debug line without the cookie or ID. */
  #rejected (reason: RefusedReason, now: number, id: string | null = null): Session {
    const handle = id === null ? undefined : handleOfId(id)
    this.#request.log.debug({ reason, handle }, 'fastify-lazy-session: session cookie refused, starting a new session')
    if (refusedChannel.hasSubscribers) refusedChannel.publish({ request: this.#request, handle: handle ?? null, store: this.#runtime.storeName, reason })
    return this.#fresh(reason, now)
  }

  /** Under 'fail' throws FST_SESSION_STORE_UNAVAILABLE; under 'fresh' logs and stops storing anything for this request. */
  #storeFailed (action: string, error: unknown, id: string): void {
    const failure = storeFailure(action, error, id)
    if (this.#runtime.options.onStoreError === 'fail') throw failure
    this.#request.log.warn({ err: failure, handle: handleOfId(id) }, `fastify-lazy-session: store ${action} failed; this request's session is not stored`)
    this.#detached = true
  }

  /** Runs store work one piece at a time, in call order. */
  #serial (work: () => Promise<void>): Promise<void> {
    this.#pending++
    const next = this.#queue.then(work)
    const settled = (): void => { this.#pending-- }
    this.#queue = next.then(settled, settled)
    return next
  }

  /** Calls the store; a failure throws FST_SESSION_STORE_UNAVAILABLE, or under 'fresh' detaches the session. */
  async #storeCall<T> (action: string, operation: StoreOperation, id: string, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.#traced(operation, id, call)
    } catch (error) {
      this.#storeFailed(action, error, id)
      return undefined
    }
  }

  /** A store call, inside the `fastify-lazy-session:store` tracing channel when someone listens. */
  #traced<T> (operation: StoreOperation, id: string, call: () => Promise<T>): Promise<T> {
    if (!storeChannel.hasSubscribers) return call()
    return traceStore({ operation, request: this.#request, handle: handleOfId(id), store: this.#runtime.storeName }, call)
  }

  /** Publishes a lifecycle event of the session `id` when someone listens. */
  #publish (channel: typeof savedChannel, id: string): void {
    if (channel.hasSubscribers) channel.publish(sessionEvent(this.#request, this.#runtime.storeName, id))
  }

  regenerate (): Promise<void> {
    return this.#serial(async () => {
      const session = this.session as Session
      const oldId = session.id
      if (this.#detached || oldId === null) return
      const removed = await this.#removeStored('regenerate')
      if (this.#detached) return
      if (!removed) {
        // Destroyed (or regenerated) by another request meanwhile: its data does not come back under a new ID.
        this.#gone()
        return
      }
      const newId = generateId()
      internals.setId(session, newId)
      this.#create = true
      if (regeneratedChannel.hasSubscribers) {
        const newHandle = handleOfId(newId)
        regeneratedChannel.publish({ request: this.#request, handle: newHandle, oldHandle: handleOfId(oldId), newHandle, store: this.#runtime.storeName })
      }
    })
  }

  destroy (): Promise<void> {
    return this.#serial(async () => {
      const session = this.session as Session
      await this.#removeStored('destroy')
      if (session.id !== null && !this.#detached) this.#publish(destroyedChannel, session.id)
      if (this.#incoming || session.id !== null) this.#cookie = 'clear'
      this.#create = false
      internals.reset(session, this.#runtime.freshRecord(Date.now()))
    })
  }

  touch (): void {
    this.#touched = true
  }

  save (): Promise<void> {
    return this.#serial(() => this.#persist())
  }

  /** Removes the stored session; `false` when the store says there was none left to remove. */
  async #removeStored (action: string): Promise<boolean> {
    const id = this.#storedId
    const store = this.#runtime.store
    if (id === null || store === null || this.#detached) return true
    const removed = await this.#storeCall(action, 'destroy', id, () => store.destroy(id))
    this.#storedId = null
    return removed !== false
  }

  /** The stored session no longer exists: this request starts over with a new, empty one and clears the cookie. */
  #gone (): void {
    this.#storedId = null
    this.#create = false
    this.#cookie = 'clear'
    internals.reset(this.session as Session, this.#runtime.freshRecord(Date.now()))
  }

  /** Writes what the end-of-request rules ask for; decides the cookie. */
  async #persist (): Promise<void> {
    const work = this.#persistWork()
    if (work !== null) await work()
  }

  /**
   * The synchronous part of #persist: decides the cookie for everything that needs no store call and returns
   * `null`, or returns the store work left to do. Most requests that load a session end here, without a promise.
   */
  #persistWork (): (() => Promise<void>) | null {
    const session = this.session as Session
    if (this.#detached) return null
    const runtime = this.#runtime
    const { rolling, lifetime } = runtime.options
    const now = Date.now()
    const empty = internals.isEmpty(session)
    if (session.id === null || this.#create) {
      if (empty) {
        if (this.#incoming || this.#create) this.#cookie = 'clear'
        return null
      }
      const id = session.id ?? generateId()
      const expiresAt = rolling && lifetime > 0 ? now + lifetime : session.expiresAt
      return () => this.#write(id, true, internals.snapshot(session), now, expiresAt)
    }
    const changes = internals.changes(session)
    // Emptied by delete(): saved as deletions, so that keys another request added meanwhile are kept; the store
    // removes a session that the save leaves without data and resolves false (#write then clears the cookie).
    if (empty && (runtime.store === null || changes?.replace === true)) {
      return async () => {
        await this.#removeStored('destroy')
        if (this.#detached) return
        this.#publish(destroyedChannel, session.id as string)
        this.#cookie = 'clear'
        internals.reset(session, runtime.freshRecord(now))
      }
    }
    const idle = runtime.options.idleTimeout
    const activity = idle > 0 && now - session.lastAccessAt >= idle / 10
    const roll = rolling && !this.#rolled
    if (changes === null && !activity && !roll && !this.#touched && !this.#stale) return null
    const expiresAt = roll && lifetime > 0 ? now + lifetime : session.expiresAt
    // Nothing changed: a touch (an empty change set) refreshes the times and the TTL only.
    const update = changes ?? { replace: false, set: new Map<string, string>(), delete: [] }
    return async () => {
      await this.#write(session.id as string, false, update, now, expiresAt)
      if (roll || this.#touched || this.#stale) this.#cookie = this.#cookie ?? 'set'
      this.#rolled ||= roll
      this.#touched = false
      this.#stale = false
    }
  }

  async #write (id: string, create: boolean, changes: SessionChanges, now: number, expiresAt: number | null): Promise<void> {
    const session = this.session as Session
    const runtime = this.#runtime
    const createdAt = session.createdAt
    /** a new session, not a regenerated one (which already has its new ID) */
    const created = create && session.id === null
    if (runtime.cookieStore === null) {
      const store = runtime.store as SessionStore
      const ttl = runtime.ttl(createdAt, now, expiresAt, now)
      const saved = await this.#storeCall('save', 'save', id, () => store.save(id, { create, ...changes, createdAt, lastAccessAt: now, expiresAt, ttl }))
      if (saved === undefined) return
      if (!saved) {
        // Destroyed by another request while this one was in flight (it stays destroyed), or emptied by this save.
        if (internals.isEmpty(session)) this.#publish(destroyedChannel, id)
        this.#gone()
        return
      }
    }
    internals.committed(session, changes)
    internals.setId(session, id)
    internals.setTimes(session, now, expiresAt)
    this.#storedId = id
    this.#create = false
    if (runtime.cookieStore !== null) {
      const sealed = runtime.cookieStore.seal(id, internals.record(session))
      const size = cookieSize(runtime.options.cookie.name, sealed)
      // Checked before the cookie is queued: a session too large is never sent, not even the part that fits.
      if (size > runtime.cookieStore.maxSize) throw new SessionTooLargeError(size, runtime.cookieStore.maxSize)
      this.#sealed = sealed
      this.#cookie = 'set'
    } else if (create) {
      this.#cookie = 'set'
    }
    if (created) this.#publish(createdChannel, id)
    this.#publish(savedChannel, id)
  }

  /**
   * onSend: saves what is left and writes the cookie. Runs once per request. Returns `null` when it is done
   * already: the session loaded, no store work queued or left to do (a read, most often).
   */
  finish (reply: FastifyReply): Promise<void> | null {
    if (this.#finished) return null
    this.#finished = true
    if (this.session === null || this.#pending > 0 || this.#expiredId !== null) return this.#finishLater(reply)
    const work = this.#persistWork()
    if (work === null) {
      this.#end(reply)
      return null
    }
    return this.#serial(work).then(() => { this.#end(reply) })
  }

  /** finish() when the load has not settled, store work is still queued, or an expired session is to be removed. */
  async #finishLater (reply: FastifyReply): Promise<void> {
    try {
      await this.promise
    } catch {
      return
    }
    await this.#serial(() => this.#persist())
    const expiredId = this.#expiredId
    if (expiredId !== null) {
      const store = this.#runtime.store as SessionStore
      await this.#storeCall('destroy', 'destroy', expiredId, () => store.destroy(expiredId))
    }
    this.#end(reply)
  }

  #end (reply: FastifyReply): void {
    if (this.#cookie === null || this.#detached) return
    this.#writeCookie(reply)
  }

  #writeCookie (reply: FastifyReply): void {
    const runtime = this.#runtime
    const { cookie, lifetime } = runtime.options
    const session = this.session as Session
    const attributes = {
      path: cookie.path,
      domain: cookie.domain,
      sameSite: cookie.sameSite,
      secure: cookie.secure,
      httpOnly: cookie.httpOnly,
      partitioned: cookie.partitioned,
      maxAge: 0 as number | undefined,
      expires: undefined as Date | undefined
    }
    let value = ''
    if (this.#cookie === 'clear' || session.id === null) {
      attributes.expires = new Date(0)
    } else {
      value = runtime.cookieStore === null ? runtime.signer.sign(session.id) : this.#sealed
      const expiresAt = session.expiresAt
      attributes.maxAge = lifetime > 0 && expiresAt !== null ? Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000)) : undefined
    }
    // Written directly (Fastify appends Set-Cookie headers): works whichever onSend hook runs first.
    reply.header('set-cookie', serializeCookie(cookie.name, value, attributes))
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  }
}
