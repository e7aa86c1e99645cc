// Adapts an express-session/connect store (connect-pg-simple, connect-redis, connect-mongo…) to SessionStore.
import type { SessionInfo, SessionRecord, SessionStore, SessionUpdate } from '../types.ts'

type Callback = (error?: unknown, value?: unknown) => void

/**
 * The part of an express-session store the adapter uses: `get`, `set`, `destroy` and optionally `touch`, either
 * callback style (`get(sid, callback)`) or promise style (called without a callback, it returns a Promise; connect-redis ≥ 8.1).
 */
export interface ConnectStoreLike {
  get (sid: string, callback: Callback): unknown
  /** `session` is a `ConnectSession` (typed `object` so that every store's own session type fits) */
  set (sid: string, session: object, callback: Callback): unknown
  destroy (sid: string, callback: Callback): unknown
  touch? (sid: string, session: object, callback: Callback): unknown
  /** every session: an array (connect-redis: each with its `id`) or an object by ID (express-session's MemoryStore) */
  all? (callback: Callback): unknown
}

/** A session as express-session stores keep it: the cookie (whose `expires` they turn into their TTL) and the data. */
export interface ConnectSession {
  cookie: { originalMaxAge: number | null, expires: string | null, [key: string]: unknown }
  [key: string]: unknown
}

/** Options of `connectStore()`. */
export interface ConnectStoreOptions {
  /**
   * Seconds an entry lives in the store when the plugin gives no deadline (`lifetime: 0` without timeouts): the
   * cookie `expires` the wrapped store turns into its TTL.
   * @default 86400
   */
  gcTtl?: number
  /**
   * Saves that change neither data nor the expiry go through the store's `touch` (when it has one) instead of a whole
   * `set`. Most stores' `touch` only extends the TTL and does not rewrite the session, so the stored `lastAccessAt`
   * stays at the last full write: leave this off with `idleTimeout`.
   * @default false
   */
  touch?: boolean
  /**
   * Milliseconds a store call may take; one that has not answered by then fails (a store whose client queues
   * commands while its server is down would otherwise hang the request). `0`: no limit.
   * @default 2000
   */
  timeout?: number
}

/** The field of `sess` that holds this plugin's metadata; the data keys sit beside it, as express-session keeps them. */
export const META_FIELD = '__lazySession'
const DEFAULT_GC_TTL = 86_400
/** ms: what `timeout` defaults to, for connectStore() and for migrateFrom's calls to the old store */
export const DEFAULT_TIMEOUT = 2000

/** What the adapter keeps in `sess[META_FIELD]`. */
interface Meta extends Omit<SessionRecord, 'data'> {
  handle?: string
  /** the key the session is stored under (the plugin's hash of the ID): what revoking removes, whatever `all()` returns */
  key?: string
  /** data keys that cannot sit beside `cookie` and the metadata under their own name (`cookie`, `__lazySession`) */
  escaped?: Record<string, string>
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/**
 * Calls a store method either way: a method that declares the callback parameter is given one (a Promise it returns
 * as well may only reject); a method declared without it is called promise style. Rejects with an Error, always.
 */
export function callStore<T> (store: object, method: (...args: any[]) => unknown, args: unknown[], timeout: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const settle = (): void => { clearTimeout(timer) }
    const fail = (error: unknown): void => { settle(); reject(error instanceof Error ? error : new Error(String(error))) }
    const done = (value: unknown): void => { settle(); resolve(value as T) }
    if (timeout > 0) timer = setTimeout(() => { reject(new Error(`the store did not answer within ${timeout} ms`)) }, timeout)
    const callbackStyle = method.length > args.length
    let result: unknown
    try {
      result = callbackStyle
        ? method.apply(store, [...args, (error?: unknown, value?: unknown) => { if (error != null) fail(error); else done(value) }])
        : method.apply(store, args)
    } catch (error) {
      fail(error)
      return
    }
    if (isThenable(result)) {
      result.then(callbackStyle ? undefined : done, fail)
    } else if (!callbackStyle) {
      done(result)
    }
  })
}

/** A data key stored under its own name in `sess`, unless it is one of the reserved names. */
function reserved (key: string): boolean {
  return key === 'cookie' || key === META_FIELD
}

/** The `cookie` of a stored session: what connect stores read their TTL from (`expires`). */
function connectCookie (ttl: number, now: number): ConnectSession['cookie'] {
  return { originalMaxAge: ttl * 1000, expires: new Date(now + ttl * 1000).toISOString(), path: '/', httpOnly: true }
}

/** A session written by this adapter; a foreign one (written by express-session or @fastify/session) has no metadata. */
function metaOf (sess: ConnectSession): Meta | null {
  const meta = sess[META_FIELD]
  return typeof meta === 'object' && meta !== null ? meta as Meta : null
}

/** The data of a stored session, serialized. A foreign session's values are JSON-serialized as they are. */
function dataOf (sess: ConnectSession, meta: Meta | null): Map<string, string> {
  const data = new Map<string, string>()
  for (const key of Object.keys(sess)) {
    if (reserved(key)) continue
    const value = sess[key]
    if (meta !== null && typeof value === 'string') data.set(key, value)
    else if (meta === null && value !== undefined) data.set(key, JSON.stringify(value))
  }
  if (meta?.escaped !== undefined) for (const [key, value] of Object.entries(meta.escaped)) data.set(key, value)
  return data
}

/** The connect store's session as a SessionRecord. */
function recordOf (sess: ConnectSession): SessionRecord {
  const meta = metaOf(sess)
  const data = dataOf(sess, meta)
  if (meta === null) {
    // Written by express-session or @fastify/session: its cookie expiry is the session's.
    const expires = sess.cookie?.expires
    const now = Date.now()
    return { data, createdAt: now, lastAccessAt: now, expiresAt: typeof expires === 'string' ? Date.parse(expires) : null }
  }
  return {
    data,
    createdAt: meta.createdAt,
    lastAccessAt: meta.lastAccessAt,
    expiresAt: meta.expiresAt,
    maxAge: meta.maxAge ?? null,
    user: meta.user ?? null,
    device: meta.device ?? null
  }
}

/**
 * `SessionStore` over an express-session store. Each save is a whole-session read-modify-write (get, apply the
 * change, set): not atomic, see docs/connect-stores.md.
 */
class ConnectStore implements SessionStore {
  readonly #store: ConnectStoreLike
  readonly #gcTtl: number
  readonly #touch: boolean
  readonly #timeout: number

  /** Per-user index, only over a store that can list its sessions (`all()`): each call scans every session. */
  list?: (user: string) => Promise<SessionInfo[]>
  revoke?: (user: string, handle: string) => Promise<boolean>
  revokeAll?: (user: string, except?: string) => Promise<number>

  constructor (store: ConnectStoreLike, options: ConnectStoreOptions) {
    this.#store = store
    this.#gcTtl = options.gcTtl ?? DEFAULT_GC_TTL
    this.#touch = options.touch ?? false
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT
    if (typeof store.all === 'function') {
      this.list = async (user) => (await this.#sessionsOf(user)).map(({ meta }) => {
        const info: SessionInfo = { handle: meta.handle as string, createdAt: meta.createdAt, lastAccessAt: meta.lastAccessAt, expiresAt: meta.expiresAt }
        if (meta.device != null) info.device = meta.device
        return info
      })
      this.revoke = async (user, handle) => {
        const found = (await this.#sessionsOf(user)).find(({ meta }) => meta.handle === handle)
        return found !== undefined && await this.destroy(found.key)
      }
      this.revokeAll = async (user, except) => {
        let revoked = 0
        for (const { key, meta } of await this.#sessionsOf(user)) {
          if (meta.handle !== except && await this.destroy(key)) revoked++
        }
        return revoked
      }
    }
  }

  /** The live sessions bound to `user`, with the key each is stored under. */
  async #sessionsOf (user: string): Promise<Array<{ key: string, meta: Meta }>> {
    const all = await callStore<unknown>(this.#store, this.#store.all as NonNullable<ConnectStoreLike['all']>, [], this.#timeout)
    const sessions = Array.isArray(all) ? all as ConnectSession[] : Object.values((all ?? {}) as Record<string, ConnectSession>)
    const now = Date.now()
    const found: Array<{ key: string, meta: Meta }> = []
    for (const sess of sessions) {
      const meta = sess == null ? null : metaOf(sess)
      if (meta === null || meta.user !== user || meta.handle === undefined || meta.key === undefined) continue
      if (meta.expiresAt !== null && meta.expiresAt <= now) continue
      found.push({ key: meta.key, meta })
    }
    return found
  }

  #get (key: string): Promise<ConnectSession | null> {
    return callStore<ConnectSession | null | undefined>(this.#store, this.#store.get, [key], this.#timeout).then((sess) => sess ?? null)
  }

  async load (key: string): Promise<SessionRecord | null> {
    const sess = await this.#get(key)
    return sess === null ? null : recordOf(sess)
  }

  async save (key: string, update: SessionUpdate): Promise<boolean> {
    const current = update.create ? null : await this.#get(key)
    if (!update.create && current === null) return false
    const currentMeta = current === null ? null : metaOf(current)
    const data = current === null || update.replace ? new Map<string, string>() : dataOf(current, currentMeta)
    for (const name of update.delete) data.delete(name)
    for (const [name, value] of update.set) data.set(name, value)
    if (data.size === 0) {
      if (current !== null) await callStore(this.#store, this.#store.destroy, [key], this.#timeout)
      return false
    }
    const now = Date.now()
    const ttl = update.ttl ?? this.#gcTtl
    const meta: Meta = {
      createdAt: update.createdAt,
      lastAccessAt: update.lastAccessAt,
      expiresAt: update.expiresAt,
      maxAge: update.maxAge !== undefined ? update.maxAge : currentMeta?.maxAge ?? null,
      user: update.user !== undefined ? update.user : currentMeta?.user ?? null,
      device: update.device !== undefined ? update.device : currentMeta?.device ?? null
    }
    const handle = update.handle ?? currentMeta?.handle
    if (handle !== undefined) meta.handle = handle
    meta.key = key
    // A null prototype: a data key `__proto__` is an own property, as JSON.parse gives it back.
    const sess = Object.create(null) as ConnectSession
    sess.cookie = connectCookie(ttl, now)
    for (const [name, value] of data) {
      if (reserved(name)) (meta.escaped ??= {})[name] = value
      else sess[name] = value
    }
    sess[META_FIELD] = meta
    const touch = this.#store.touch
    if (this.#touch && touch !== undefined && currentMeta !== null && update.set.size === 0 && update.delete.length === 0 &&
      !update.replace && currentMeta.expiresAt === update.expiresAt) {
      await callStore(this.#store, touch, [key, sess], this.#timeout)
    } else {
      await callStore(this.#store, this.#store.set, [key, sess], this.#timeout)
    }
    return true
  }

  async destroy (key: string): Promise<boolean> {
    const current = await this.#get(key)
    if (current === null) return false
    await callStore(this.#store, this.#store.destroy, [key], this.#timeout)
    return true
  }
}

/**
 * Wraps an express-session/connect store (callback or promise style) as a `SessionStore`. Whole-session saves: it cannot
 * give per-key atomic saves or no-resurrection under concurrency (docs/connect-stores.md).
 */
export function connectStore (store: ConnectStoreLike, options: ConnectStoreOptions = {}): SessionStore {
  if (typeof store !== 'object' || store === null || typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.destroy !== 'function') {
    throw new TypeError('connectStore(store): store must be an express-session store with get, set and destroy')
  }
  return new ConnectStore(store, options)
}
