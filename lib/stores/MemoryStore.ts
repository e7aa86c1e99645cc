import { InvalidOptionError } from '../errors.ts'
import { handleOf } from '../signing.ts'
import type { SessionDevice, SessionInfo, SessionRecord, SessionStore, SessionUpdate } from '../types.ts'

/** Options of the embedded in-process store. */
export interface MemoryStoreOptions {
  /**
   * Most sessions kept. Past it a session is evicted: first those never loaded again since they were created
   * (least recently used first), so a flood of new anonymous sessions cannot push out sessions in use.
   * @default 100000
   */
  maxSessions?: number
  /** Seconds a session without a deadline of its own (`lifetime: 0`, no timeouts) is kept after its last save. @default 86400 */
  gcTtl?: number
  /** Milliseconds between expiry sweeps; each sweep looks at a bounded slice of the sessions. @default 1000 */
  sweepInterval?: number
}

interface Entry {
  data: Map<string, string>
  createdAt: number
  lastAccessAt: number
  expiresAt: number | null
  /** ms since epoch when the entry is dropped */
  deadline: number
  maxAge: number | null
  /** the user this session is bound to in the per-user index */
  user: string | null
  device: SessionDevice | null
  /** the session's handle, once known (given by the plugin, or derived from the key when a user is bound) */
  handle: string | null
  /** in the protected segment: loaded at least once since it was created */
  protected: boolean
}

const DEFAULTS = { maxSessions: 100_000, gcTtl: 86_400, sweepInterval: 1000 }
/** Entries a sweep looks at, so a sweep never blocks the event loop for long. */
const SWEEP_SLICE = 2000
/**
 * Share of `maxSessions` the protected segment may hold; past it its least recently used session goes back to
 * probation, so new sessions always have room to prove themselves (segmented LRU).
 */
const PROTECTED_SHARE = 0.8

function positive (options: MemoryStoreOptions, name: keyof MemoryStoreOptions): number {
  const value = options[name] ?? DEFAULTS[name]
  if (typeof value !== 'number' || !(value > 0)) {
    throw new InvalidOptionError(`MemoryStore \`${name}\` must be a positive number`)
  }
  return value
}

function copyDevice (device: SessionDevice): SessionDevice {
  const copy: SessionDevice = {}
  if (device.ip !== undefined) copy.ip = device.ip
  if (device.userAgent !== undefined) copy.userAgent = device.userAgent
  if (device.label !== undefined) copy.label = device.label
  return copy
}

/**
 * One segment of the eviction order: a Map in least-recently-used-first order (re-inserting moves an entry to the
 * end) that keeps its place for eviction: a fresh `keys()` iterator would step over every deleted slot at the front
 * of the Map's table before it found the oldest entry (O(deleted) per eviction).
 */
class Segment {
  readonly map = new Map<string, Entry>()
  #oldest: MapIterator<string> | null = null

  /** The least recently used key; only called when the segment is not empty. */
  oldest (): string {
    this.#oldest ??= this.map.keys()
    // Never done: every entry before its place is gone and the Map is not empty.
    return this.#oldest.next().value as string
  }
}

/**
 * The embedded default store: sessions live in this process, expire by TTL (checked on read and by a
 * sweep on an unref'd timer) and are bounded by `maxSessions`. Saves are applied synchronously, so each
 * is atomic; values are stored serialized, so no request shares an object with another.
 *
 * Eviction is a segmented LRU: a new session waits in probation until it is loaded again, then moves to the
 * protected segment; past `maxSessions` the least recently used session of probation goes first. Keeps a
 * per-user index (`list`, `revoke`, `revokeAll`) of the sessions bound to a user.
 */
export class MemoryStore implements SessionStore {
  readonly #probation = new Segment()
  readonly #protected = new Segment()
  /** user → handle → key */
  readonly #users = new Map<string, Map<string, string>>()
  readonly #maxSessions: number
  readonly #maxProtected: number
  readonly #gcTtl: number
  readonly #timer: NodeJS.Timeout
  #cursor: MapIterator<[string, Entry]> | null = null
  /** the segment the sweep walks now */
  #sweeping: Segment

  constructor (options: MemoryStoreOptions = {}) {
    this.#maxSessions = positive(options, 'maxSessions')
    this.#maxProtected = Math.floor(this.#maxSessions * PROTECTED_SHARE)
    this.#gcTtl = positive(options, 'gcTtl') * 1000
    this.#sweeping = this.#probation
    this.#timer = setInterval(() => { this.sweep() }, positive(options, 'sweepInterval'))
    this.#timer.unref()
  }

  /** Sessions held now (expired ones not yet swept included). */
  get size (): number {
    return this.#probation.map.size + this.#protected.map.size
  }

  async load (id: string): Promise<SessionRecord | null> {
    const entry = this.#live(id)
    if (entry === null) return null
    // A load is a use: to the end of the protected segment (from probation on the first load after creation).
    this.#segment(entry).map.delete(id)
    entry.protected = true
    this.#protected.map.set(id, entry)
    if (this.#protected.map.size > this.#maxProtected) this.#demote()
    const record: SessionRecord = { data: new Map(entry.data), createdAt: entry.createdAt, lastAccessAt: entry.lastAccessAt, expiresAt: entry.expiresAt }
    if (entry.maxAge !== null) record.maxAge = entry.maxAge
    if (entry.user !== null) record.user = entry.user
    if (entry.device !== null) record.device = copyDevice(entry.device)
    return record
  }

  async save (id: string, update: SessionUpdate): Promise<boolean> {
    let entry = this.#live(id)
    if (entry === null) {
      if (!update.create) return false
      entry = { data: new Map(), createdAt: 0, lastAccessAt: 0, expiresAt: null, deadline: 0, maxAge: null, user: null, device: null, handle: null, protected: false }
    } else {
      this.#segment(entry).map.delete(id)
    }
    if (update.replace) entry.data.clear()
    for (const key of update.delete) entry.data.delete(key)
    for (const [key, value] of update.set) entry.data.set(key, value)
    entry.createdAt = update.createdAt
    entry.lastAccessAt = update.lastAccessAt
    entry.expiresAt = update.expiresAt
    entry.deadline = Date.now() + (update.ttl === null ? this.#gcTtl : update.ttl * 1000)
    if (update.handle !== undefined) entry.handle = update.handle
    if (update.maxAge !== undefined) entry.maxAge = update.maxAge
    if (update.device !== undefined) entry.device = update.device === null ? null : copyDevice(update.device)
    // A session left without data is removed (two requests that each deleted one of its keys).
    if (entry.data.size === 0) {
      this.#unindex(id, entry)
      return false
    }
    if (update.user !== undefined && update.user !== entry.user) {
      this.#unindex(id, entry)
      entry.user = update.user
      if (entry.user !== null) {
        entry.handle ??= handleOf(id)
        let sessions = this.#users.get(entry.user)
        if (sessions === undefined) this.#users.set(entry.user, sessions = new Map())
        sessions.set(entry.handle, id)
      }
    }
    this.#segment(entry).map.set(id, entry)
    if (this.size > this.#maxSessions) {
      // Probation is never empty here: the protected segment is capped below maxSessions.
      const key = this.#probation.oldest()
      this.#remove(key, this.#probation.map.get(key) as Entry)
    }
    return true
  }

  async destroy (id: string): Promise<boolean> {
    const entry = this.#live(id)
    if (entry === null) return false
    this.#remove(id, entry)
    return true
  }

  /** The live sessions bound to `user`, most recently used first. */
  async list (user: string): Promise<SessionInfo[]> {
    const sessions = this.#users.get(user)
    if (sessions === undefined) return []
    const list: SessionInfo[] = []
    for (const id of sessions.values()) {
      const entry = this.#live(id)
      if (entry === null) continue
      const info: SessionInfo = { handle: entry.handle as string, createdAt: entry.createdAt, lastAccessAt: entry.lastAccessAt, expiresAt: entry.expiresAt }
      if (entry.device !== null) info.device = copyDevice(entry.device)
      list.push(info)
    }
    return list.sort((a, b) => b.lastAccessAt - a.lastAccessAt)
  }

  async revoke (user: string, handle: string): Promise<boolean> {
    const id = this.#users.get(user)?.get(handle)
    return id !== undefined && await this.destroy(id)
  }

  async revokeAll (user: string, except?: string): Promise<number> {
    const sessions = this.#users.get(user)
    if (sessions === undefined) return 0
    let revoked = 0
    for (const [handle, id] of [...sessions]) {
      if (handle !== except && await this.destroy(id)) revoked++
    }
    return revoked
  }

  /** Drops expired sessions from a bounded slice of the store; runs on a timer, callable directly. */
  sweep (): void {
    const now = Date.now()
    for (let i = 0; i < SWEEP_SLICE; i++) {
      this.#cursor ??= this.#sweeping.map.entries()
      const next = this.#cursor.next()
      if (next.done === true) {
        // One segment done: the next sweep starts on the other one.
        this.#cursor = null
        this.#sweeping = this.#sweeping === this.#probation ? this.#protected : this.#probation
        return
      }
      const [id, entry] = next.value
      if (entry.deadline <= now) this.#remove(id, entry)
    }
  }

  /** Stops the sweep timer; the sessions stay (another app may share this store). */
  close (): void {
    clearInterval(this.#timer)
  }

  #segment (entry: Entry): Segment {
    return entry.protected ? this.#protected : this.#probation
  }

  /** The protected segment's least recently used session goes back to the newest end of probation. */
  #demote (): void {
    const key = this.#protected.oldest()
    const entry = this.#protected.map.get(key) as Entry
    this.#protected.map.delete(key)
    entry.protected = false
    this.#probation.map.set(key, entry)
  }

  #remove (id: string, entry: Entry): void {
    this.#segment(entry).map.delete(id)
    this.#unindex(id, entry)
  }

  /** Takes the session out of its user's index; the index goes with the user's last session. */
  #unindex (id: string, entry: Entry): void {
    if (entry.user === null) return
    const sessions = this.#users.get(entry.user) as Map<string, string>
    sessions.delete(entry.handle as string)
    if (sessions.size === 0) this.#users.delete(entry.user)
    entry.user = null
  }

  #live (id: string): Entry | null {
    // Sessions in use are in protected: looked up first.
    const entry = this.#protected.map.get(id) ?? this.#probation.map.get(id)
    if (entry === undefined) return null
    if (entry.deadline <= Date.now()) {
      this.#remove(id, entry)
      return null
    }
    return entry
  }
}
