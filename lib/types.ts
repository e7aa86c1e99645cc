/**
 * Users augment this interface to type their session data:
 * `declare module 'fastify-lazy-session' { interface SessionData { userId: string } }`.
 */
export interface SessionData {
  [key: string]: unknown
}

/** Where a session was used from (option `device`); personal data, so off by default. */
export interface SessionDevice {
  ip?: string
  userAgent?: string
  label?: string
}

/** One session of a user, as `app.sessions.list()` shows it (and a store's `list()` returns it). */
export interface SessionInfo {
  /** opaque, non-secret name of the session: what `revoke` takes; never usable as a cookie or store key */
  handle: string
  /** ms since epoch */
  createdAt: number
  /** ms since epoch */
  lastAccessAt: number
  /** ms since epoch, or `null` for a browser-session cookie */
  expiresAt: number | null
  device?: SessionDevice
}

/**
 * What a store keeps for one session. Values are already serialized (one string per key).
 * Stores are called with a key derived from the session ID (a hash), never the ID itself.
 */
export interface SessionRecord {
  /** key → serialized value; the order of the keys is not kept */
  data: Map<string, string>
  /** ms since epoch */
  createdAt: number
  /** ms since epoch: last save or activity touch */
  lastAccessAt: number
  /** ms since epoch after which the session is refused, or `null` for a browser-session cookie */
  expiresAt: number | null
  /** this session's own lifetime in ms (`session.options({ maxAge })`), or `null`/absent: the plugin's `lifetime` */
  maxAge?: number | null
  /** the user the session is bound to (the `userKey` value as a string), or `null`/absent */
  user?: string | null
  /** where the session was created or last used from (option `device`) */
  device?: SessionDevice | null
}

/**
 * One save: what changed since the session was loaded, plus the metadata to store.
 * A store applies it atomically.
 */
export interface SessionUpdate {
  /** `true`: a new session under a freshly generated ID. `false`: apply only if the session still exists (never resurrect). */
  create: boolean
  /** `true`: drop every stored key that is not in `set` (after `clear()`, and for new sessions). */
  replace: boolean
  /** keys set: key → serialized value */
  set: Map<string, string>
  /** keys deleted */
  delete: string[]
  createdAt: number
  lastAccessAt: number
  expiresAt: number | null
  /**
   * Seconds the entry must live from now (a whole number ≥ 1), or `null`: no deadline from the plugin, the store
   * applies its own GC TTL.
   */
  ttl: number | null
  /** the session's handle (opaque, non-secret): what the per-user index lists and revokes; the plugin always gives it */
  handle?: string
  /** this session's own lifetime in ms, `null` = the plugin's; `undefined`: unchanged */
  maxAge?: number | null
  /**
   * The user to bind the session to in the per-user index (string), `null` to unbind it; `undefined`: the binding
   * is unchanged (a save that did not touch the `userKey` never rebinds: a concurrent login is kept).
   */
  user?: string | null
  /** device information to store; `undefined`: unchanged */
  device?: SessionDevice | null
}

/**
 * A server-side session store. Every method returns a Promise; a rejected Promise is a store failure
 * (the plugin turns it into `FST_SESSION_STORE_UNAVAILABLE` or a fresh session, see `onStoreError`).
 * A store may reject with `SessionStoreUnavailableError` itself; its messages must not contain the ID.
 */
export interface SessionStore {
  /** The session, or `null` when there is none (never stored, destroyed, or dropped at its TTL). */
  load(id: string): Promise<SessionRecord | null>
  /**
   * Applies `update` atomically. Resolves `false` when the session does not exist after it: when `update.create`
   * is `false` and the session is gone (write nothing: never resurrect), or when this save left it without any
   * data key (remove it). Resolves `true` otherwise.
   */
  save(id: string, update: SessionUpdate): Promise<boolean>
  /** Removes the session; resolves `true` when there was one to remove, `false` when there was none. */
  destroy(id: string): Promise<boolean>
  /** Called when Fastify closes. */
  close?(): Promise<void> | void
  /**
   * Per-user index (optional; `app.sessions` rejects with `FST_SESSION_UNSUPPORTED` without it).
   * The live sessions bound to `user`, in any order; entries whose session is gone are dropped when found.
   */
  list?(user: string): Promise<SessionInfo[]>
  /** Removes the session `handle` of `user` (and its index entry); resolves `true` when there was one. */
  revoke?(user: string, handle: string): Promise<boolean>
  /** Removes every session of `user` but `except`; resolves how many were removed. */
  revokeAll?(user: string, except?: string): Promise<number>
}

/** Turns one session value into a string and back. Default: JSON. */
export interface Serializer {
  serialize(value: unknown): string
  deserialize(text: string): unknown
}

/** Why a session is what it is. */
export type SessionReason = 'new' | 'loaded' | 'expired' | 'invalid' | 'not-found' | 'revoked'

/**
 * A store that can answer now (the embedded MemoryStore) offers its load, save and destroy a second time under
 * this symbol, returning results instead of Promises: a request whose store work completes synchronously takes no
 * extra turns of the event loop. The plugin uses them only while the store's Promise-based methods are still the
 * ones they stand in for (`replaces`), so a store whose methods were wrapped or spied on is called through those.
 */
export const immediateStore: unique symbol = Symbol('fastify-lazy-session:immediate-store')

/** The synchronous twin of a store's `load`, `save` and `destroy` (see `immediateStore`). */
export interface ImmediateStore {
  load(id: string): SessionRecord | null
  save(id: string, update: SessionUpdate): boolean
  destroy(id: string): boolean
  /** the Promise-based methods these answer for; when the store's own differ from them, they are not used */
  readonly replaces: Pick<SessionStore, 'load' | 'save' | 'destroy'>
}

/** The immediate twin of `store`, or `null` when it has none or its methods are no longer the ones it answers for. */
export function immediateOf (store: SessionStore): ImmediateStore | null {
  const twin = (store as { [immediateStore]?: ImmediateStore })[immediateStore]
  if (twin === undefined) return null
  const { replaces } = twin
  return store.load === replaces.load && store.save === replaces.save && store.destroy === replaces.destroy ? twin : null
}
