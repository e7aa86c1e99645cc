import type { Serializer, SessionData, SessionReason, SessionRecord } from './types.ts'

/** What the plugin does for the session methods that need the store or the reply. */
export interface SessionControl {
  /** the session's opaque handle, or `null` before it is stored */
  readonly handle: string | null
  regenerate (): Promise<void>
  destroy (): Promise<void>
  touch (): void
  save (): void | Promise<void>
}

/** A change set in the shape `SessionUpdate` carries it. */
export interface SessionChanges {
  replace: boolean
  set: Map<string, string>
  delete: string[]
}

type Key<T> = keyof T & string

/** What `session.options()` takes; keys other than `maxAge` are ignored (@fastify/csrf-protection passes `userInfo`). */
export interface SessionOptions {
  /** This session's own lifetime in seconds ("remember me"); `0` = a browser-session cookie, `null` = the plugin's `lifetime`. */
  maxAge?: number | null
  [other: string]: unknown
}

/** The plugin's access to a session's private state. */
export interface SessionInternals {
  create (control: SessionControl, serializer: Serializer, id: string | null, record: SessionRecord, reason: SessionReason): Session
  /** What the application sees: the session behind a Proxy that maps property access to get/set/delete/has/keys. */
  exposed (session: Session): SessionWithData
  /** This session's own lifetime in ms (`options({ maxAge })`), or `null`: the plugin's `lifetime`. */
  maxAge (session: Session): number | null
  /** The lifetime changed by `options({ maxAge })` and not saved yet: what `SessionUpdate.maxAge` carries, else `undefined`. */
  maxAgeChange (session: Session): number | null | undefined
  /** What changed since load (or the last save), or `null` when nothing did. */
  changes (session: Session): SessionChanges | null
  /** Every key, replacing the stored ones: what a new (or regenerated) session stores. */
  snapshot (session: Session): SessionChanges
  /** The change set (and any lifetime change) was stored: it becomes the new baseline. */
  committed (session: Session, changes: SessionChanges): void
  /** No key has a value (without building the key list). */
  isEmpty (session: Session): boolean
  /** The stored state after `committed`: every key serialized, and the times. */
  record (session: Session): SessionRecord
  setId (session: Session, id: string | null): void
  setTimes (session: Session, lastAccessAt: number, expiresAt: number | null): void
  /** Starts over as a new, empty session (after `destroy()`). */
  reset (session: Session, record: SessionRecord): void
}

export let internals: SessionInternals

/** Whether something inside `value` can change in place (a nested change the end-of-request save must catch). */
function mutable (value: unknown): boolean {
  return typeof value === 'object' && value !== null
}

/** One value as stored; a value the serializer cannot represent fails the request with a clear error. */
function serializeValue (serializer: Serializer, key: string, value: unknown): string {
  const text = serializer.serialize(value)
  if (typeof text !== 'string') throw new TypeError(`the session value of "${key}" cannot be serialized`)
  return text
}

/**
 * One user's session. Values are deserialized the first time they are read; a value that was read is
 * serialized again at save time, so a nested mutation is saved too.
 */
class Session<T extends SessionData = SessionData> {
  readonly #control: SessionControl
  readonly #serializer: Serializer
  /** key → serialized value, as stored */
  #raw: Map<string, string>
  /** key → value read or set in this request */
  readonly #values = new Map<string, unknown>()
  /** keys set in this request (`null` until one is): a value that was only read is saved again only if it is an object */
  #written: Set<string> | null = null
  /** stored keys deleted in this request (`null` until one is: most requests delete nothing) */
  #deleted: Set<string> | null = null
  /** `clear()` was called: the stored keys are gone */
  #cleared = false
  #id: string | null
  #isNew: boolean
  #reason: SessionReason
  #createdAt: number
  #lastAccessAt: number
  #expiresAt: number | null
  /** ms, or `null`: the plugin's lifetime */
  #maxAge: number | null
  #maxAgeChanged = false
  /** the Proxy the application gets, made on first exposure */
  #proxy: Session<T> | null = null
  /** this session's methods bound to it, for calls through the Proxy (private fields are not reachable through one) */
  #bound: Map<string, unknown> | null = null

  private constructor (control: SessionControl, serializer: Serializer, id: string | null, record: SessionRecord, reason: SessionReason) {
    this.#control = control
    this.#serializer = serializer
    this.#raw = record.data
    this.#id = id
    this.#isNew = id === null
    this.#reason = reason
    this.#createdAt = record.createdAt
    this.#lastAccessAt = record.lastAccessAt
    this.#expiresAt = record.expiresAt
    this.#maxAge = record.maxAge ?? null
  }

  /** The session ID, or `null` for a session that has never been stored. */
  get id (): string | null { return this.#id }
  /** `true` when this request created the session. */
  get isNew (): boolean { return this.#isNew }
  /** Why this session is what it is: `'loaded'` from the store, or why it is new. */
  get reason (): SessionReason { return this.#reason }
  /** Creation time, ms since epoch. */
  get createdAt (): number { return this.#createdAt }
  /** Last save or activity touch, ms since epoch. */
  get lastAccessAt (): number { return this.#lastAccessAt }
  /** When the session expires, ms since epoch, or `null` for a browser-session cookie. */
  get expiresAt (): number | null { return this.#expiresAt }
  /**
   * An opaque, non-secret name of this session (`null` until it is stored): what `app.sessions` lists and revokes,
   * and what logs carry. It cannot be turned into a cookie or a store key.
   */
  get handle (): string | null { return this.#control.handle }

  /** The value of `key`, or `undefined`. */
  get<K extends Key<T>> (key: K): T[K] | undefined {
    if (this.#values.has(key)) return this.#values.get(key) as T[K]
    if (this.#cleared || this.#deleted?.has(key) === true) return undefined
    const text = this.#raw.get(key)
    if (text === undefined) return undefined
    const value = this.#serializer.deserialize(text)
    this.#values.set(key, value)
    return value as T[K]
  }

  /** Sets `key`; `undefined` deletes it. */
  set<K extends Key<T>> (key: K, value: T[K]): this {
    if (typeof key !== 'string') throw new TypeError('session keys are strings')
    if (value === undefined) return this.delete(key)
    this.#values.set(key, value)
    ;(this.#written ??= new Set()).add(key)
    this.#deleted?.delete(key)
    return this
  }

  /** Removes `key`. */
  delete (key: Key<T>): this {
    this.#values.delete(key)
    if (!this.#cleared && this.#raw.has(key)) (this.#deleted ??= new Set()).add(key)
    return this
  }

  /** Whether `key` has a value. */
  has (key: Key<T>): boolean {
    return this.#values.has(key) || (!this.#cleared && this.#deleted?.has(key) !== true && this.#raw.has(key))
  }

  /** Removes every key; an emptied session is removed from the store and its cookie deleted. */
  clear (): this {
    this.#values.clear()
    this.#deleted = null
    this.#cleared = true
    return this
  }

  /** The keys that have a value. */
  keys (): Array<Key<T>> {
    const keys = new Set(this.#values.keys())
    if (!this.#cleared) {
      for (const key of this.#raw.keys()) if (this.#deleted?.has(key) !== true) keys.add(key)
    }
    return [...keys] as Array<Key<T>>
  }

  /** A copy of the data: changing it changes nothing in the session. */
  data (): Partial<T> {
    const copy = {}
    for (const key of this.keys()) {
      const text = this.#values.has(key) ? this.#serializer.serialize(this.#values.get(key)) : this.#raw.get(key) as string
      // defineProperty: a key such as `__proto__` stays an own property instead of replacing the prototype.
      Object.defineProperty(copy, key, { value: this.#serializer.deserialize(text), enumerable: true, writable: true, configurable: true })
    }
    return copy
  }

  /**
   * A new ID; the old ID is removed from the store now (session fixation). Without `keep` all data is kept;
   * with `keep` only those keys survive (what @fastify/passport asks for at login).
   */
  async regenerate (keep?: ReadonlyArray<Key<T>>): Promise<void> {
    if (keep !== undefined && (!Array.isArray(keep) || !keep.every((key) => typeof key === 'string'))) {
      throw new TypeError('session.regenerate(keep): keep must be an array of data keys')
    }
    await this.#control.regenerate()
    if (keep === undefined) return
    const kept: Array<[Key<T>, T[Key<T>]]> = []
    for (const key of keep) {
      const value = this.get(key)
      if (value !== undefined) kept.push([key, value])
    }
    this.clear()
    for (const [key, value] of kept) this.set(key, value)
  }

  /**
   * `maxAge`: a lifetime in seconds for this session only ("remember me"), stored with it and used for its expiry,
   * rolling, the store TTL and the cookie `Max-Age`. Other keys are ignored.
   */
  options (options: SessionOptions): void {
    if (typeof options !== 'object' || options === null) throw new TypeError('session.options(options): options must be an object')
    const maxAge = options.maxAge
    if (maxAge === undefined) return
    if (maxAge !== null && (typeof maxAge !== 'number' || !Number.isFinite(maxAge) || maxAge < 0)) {
      throw new TypeError('session.options({ maxAge }): maxAge must be a number of seconds ≥ 0, or null for the plugin\'s lifetime')
    }
    const ms = maxAge === null ? null : Math.round(maxAge * 1000)
    if (ms === this.#maxAge) return
    this.#maxAge = ms
    this.#maxAgeChanged = true
  }

  /** Removes the session from the store now and clears the cookie in this response. */
  async destroy (): Promise<void> {
    await this.#control.destroy()
  }

  /** Sends a refreshed cookie and store TTL in this response, even when not rolling. */
  touch (): void {
    this.#control.touch()
  }

  /** Persists now (e.g. before a streamed reply); later changes are saved at the end of the request too. */
  async save (): Promise<void> {
    await this.#control.save()
  }

  /** Keeps `JSON.stringify(session)` and loggers from reading private state: only the data. */
  toJSON (): Partial<T> {
    return this.data()
  }

  static {
    internals = {
      create: (control, serializer, id, record, reason) => new Session(control, serializer, id, record, reason),
      exposed: (session) => (session.#proxy ??= new Proxy(session, propertyAccess)) as SessionWithData,
      maxAge: (session) => session.#maxAge,
      maxAgeChange: (session) => session.#maxAgeChanged ? session.#maxAge : undefined,
      changes (session) {
        const replace = session.#cleared
        // Allocated on the first change: a request that only reads allocates nothing here.
        let set: Map<string, string> | null = null
        const written = session.#written
        for (const [key, value] of session.#values) {
          // Read, never set, and not an object: nothing inside it can have changed.
          if (!replace && !mutable(value) && written?.has(key) !== true) continue
          const text = serializeValue(session.#serializer, key, value)
          if (replace || session.#raw.get(key) !== text) (set ??= new Map()).set(key, text)
        }
        const deleted = replace || session.#deleted === null || session.#deleted.size === 0 ? null : [...session.#deleted]
        if (!replace && set === null && deleted === null) return null
        return { replace, set: set ?? new Map(), delete: deleted ?? [] }
      },
      snapshot (session) {
        const set = new Map<string, string>()
        for (const [key, value] of session.#values) set.set(key, serializeValue(session.#serializer, key, value))
        if (!session.#cleared) {
          for (const [key, text] of session.#raw) {
            if (session.#deleted?.has(key) !== true && !set.has(key)) set.set(key, text)
          }
        }
        return { replace: true, set, delete: [] }
      },
      committed (session, changes) {
        if (changes.replace) session.#raw = new Map()
        for (const key of changes.delete) session.#raw.delete(key)
        for (const [key, text] of changes.set) session.#raw.set(key, text)
        session.#cleared = false
        session.#deleted = null
        session.#written = null
        session.#maxAgeChanged = false
      },
      isEmpty (session) {
        // #deleted only ever holds stored keys, so the stored keys left are #raw.size - #deleted.size.
        return session.#values.size === 0 && (session.#cleared || session.#raw.size === (session.#deleted?.size ?? 0))
      },
      record (session) {
        return { data: session.#raw, createdAt: session.#createdAt, lastAccessAt: session.#lastAccessAt, expiresAt: session.#expiresAt, maxAge: session.#maxAge }
      },
      setId (session, id) {
        session.#id = id
      },
      setTimes (session, lastAccessAt, expiresAt) {
        session.#lastAccessAt = lastAccessAt
        session.#expiresAt = expiresAt
      },
      reset (session, record) {
        session.#raw = record.data
        session.#values.clear()
        session.#deleted = null
        session.#written = null
        session.#cleared = false
        session.#id = null
        session.#isNew = true
        session.#reason = 'new'
        session.#createdAt = record.createdAt
        session.#lastAccessAt = record.lastAccessAt
        session.#expiresAt = record.expiresAt
        session.#maxAge = null
        session.#maxAgeChanged = false
      }
    }

    /** A method of Session, bound to the session behind the Proxy; one that returns the session returns the Proxy. */
    function bound (session: Session, key: string): unknown {
      let method = session.#bound?.get(key)
      if (method === undefined) {
        const own = (Session.prototype as unknown as Record<string, (...args: unknown[]) => unknown>)[key] as (...args: unknown[]) => unknown
        const proxy = session.#proxy
        method = function (...args: unknown[]): unknown {
          const result = own.apply(session, args)
          return result === session ? proxy : result
        }
        ;(session.#bound ??= new Map()).set(key, method)
      }
      return method
    }

    const propertyAccess: ProxyHandler<Session> = {
      get (session, key) {
        if (methods.has(key)) return bound(session, key as string)
        if (typeof key === 'symbol' || key in session) return Reflect.get(session, key, session)
        return key === 'then' ? undefined : session.get(key)
      },
      set (session, key, value) {
        session.set(dataKey(session, key, 'set', 'value'), value)
        return true
      },
      deleteProperty (session, key) {
        session.delete(dataKey(session, key, 'delete', ''))
        return true
      },
      has (session, key) {
        return typeof key === 'string' && !reserved(session, key) ? session.has(key) : Reflect.has(session, key)
      },
      ownKeys (session) {
        return session.keys()
      },
      getOwnPropertyDescriptor (session, key) {
        if (typeof key !== 'string' || !session.has(key)) return undefined
        return { value: session.get(key), writable: true, enumerable: true, configurable: true }
      },
      defineProperty (session, key, descriptor) {
        if (!('value' in descriptor)) throw new TypeError('session data keys hold values: use session.set(key, value)')
        session.set(dataKey(session, key, 'set', 'value'), descriptor.value)
        return true
      }
    }
  }
}

/** Session's methods (bound for calls through the Proxy). */
const methods: ReadonlySet<PropertyKey> = new Set(Object.getOwnPropertyNames(Session.prototype).filter((key) =>
  key !== 'constructor' && typeof Object.getOwnPropertyDescriptor(Session.prototype, key)?.value === 'function'))

/** A member of Session (or `then`: a session is never a thenable), which property access leaves alone. */
function reserved (session: object, key: string): boolean {
  return key in session || key === 'then'
}

/** The data key that a property write or delete stands for; a member name or a symbol is refused with the method to use. */
function dataKey (session: object, key: string | symbol, method: 'set' | 'delete', value: string): string {
  const args = value === '' ? '' : ', ' + value
  if (typeof key === 'symbol') throw new TypeError(`session data keys are strings: use session.${method}(key${args})`)
  if (reserved(session, key)) {
    throw new TypeError(`"${key}" is a member of Session, not a data key: use session.${method}(${JSON.stringify(key)}${args})`)
  }
  return key
}

/** A data key of the session, read and written as a property: `session.userId` = `session.get('userId')`. */
type DataProperties<T extends SessionData> = { [K in keyof T as K extends keyof Session<T> ? never : K]?: T[K] }

/**
 * One user's session: the methods, and the data keys as properties (`session.userId`, `session.cart = [...]`,
 * `delete session.flash`, `'userId' in session`, `Object.keys(session)`).
 */
type SessionWithData<T extends SessionData = SessionData> = Session<T> & DataProperties<T>

export { Session }
export type { SessionWithData }
