import { InvalidOptionError } from '../errors.ts'
import { handleOf } from '../signing.ts'
import { immediateStore, type ImmediateStore, type SessionDevice, type SessionInfo, type SessionRecord, type SessionStore, type SessionUpdate } from '../types.ts'

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

/**
 * One session, kept small (the heap per session is most of what a MemoryStore costs): times are ms since the store's
 * epoch (small integers V8 stores inline, where ms since 1970 would each take a boxed number), data is a flat array,
 * and the rarely set fields live in one optional object.
 */
interface Entry {
  /** keys and serialized values, alternating: [key, value, key, value, …] (a Map costs more than two keys' data) */
  data: string[]
  createdAt: number
  lastAccessAt: number
  expiresAt: number | null
  /** when the entry is dropped */
  deadline: number
  /** in the protected segment: loaded at least once since it was created */
  protected: boolean
  extra: Extra | null
}

/** What few sessions have; `null` on an entry that has none of it. */
interface Extra {
  maxAge: number | null
  /** the user this session is bound to in the per-user index */
  user: string | null
  device: SessionDevice | null
  /** the session's handle in its user's index (given by the plugin, or derived from the key), while bound */
  handle: string | null
}

function dataMap (data: string[]): Map<string, string> {
  const map = new Map<string, string>()
  for (let i = 0; i < data.length; i += 2) map.set(data[i] as string, data[i + 1] as string)
  return map
}

function indexOfKey (data: string[], key: string): number {
  for (let i = 0; i < data.length; i += 2) if (data[i] === key) return i
  return -1
}

/** `ms` as a small integer when it fits one: V8 keeps those inline, a subtraction's result would be a boxed number. */
function small (ms: number): number {
  const int = ms | 0
  return int === ms ? int : ms
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
  /** ms since 1970 that entry times count from */
  readonly #epoch = Date.now()

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

  /** The same calls answered now: every MemoryStore operation is synchronous underneath. */
  readonly [immediateStore]: ImmediateStore = {
    load: (id) => this.#load(id),
    save: (id, update) => this.#save(id, update),
    destroy: (id) => this.#destroy(id),
    replaces: MemoryStore.prototype
  }

  async load (id: string): Promise<SessionRecord | null> {
    return this.#load(id)
  }

  async save (id: string, update: SessionUpdate): Promise<boolean> {
    return this.#save(id, update)
  }

  async destroy (id: string): Promise<boolean> {
    return this.#destroy(id)
  }

  #load (id: string): SessionRecord | null {
    const entry = this.#live(id)
    if (entry === null) return null
    // A load is a use: to the end of the protected segment (from probation on the first load after creation).
    this.#segment(entry).map.delete(id)
    entry.protected = true
    this.#protected.map.set(id, entry)
    if (this.#protected.map.size > this.#maxProtected) this.#demote()
    const epoch = this.#epoch
    const record: SessionRecord = {
      data: dataMap(entry.data),
      createdAt: entry.createdAt + epoch,
      lastAccessAt: entry.lastAccessAt + epoch,
      expiresAt: entry.expiresAt === null ? null : entry.expiresAt + epoch
    }
    const extra = entry.extra
    if (extra !== null) {
      if (extra.maxAge !== null) record.maxAge = extra.maxAge
      if (extra.user !== null) record.user = extra.user
      if (extra.device !== null) record.device = copyDevice(extra.device)
    }
    return record
  }

  #save (id: string, update: SessionUpdate): boolean {
    let entry = this.#live(id)
    if (entry === null) {
      if (!update.create) return false
      entry = { data: [], createdAt: 0, lastAccessAt: 0, expiresAt: null, deadline: 0, protected: false, extra: null }
    } else {
      this.#segment(entry).map.delete(id)
    }
    entry.data = this.#applyData(entry.data, update)
    const epoch = this.#epoch
    entry.createdAt = small(update.createdAt - epoch)
    entry.lastAccessAt = small(update.lastAccessAt - epoch)
    entry.expiresAt = update.expiresAt === null ? null : small(update.expiresAt - epoch)
    entry.deadline = small(Date.now() - epoch + (update.ttl === null ? this.#gcTtl : update.ttl * 1000))
    if (update.maxAge !== undefined && (update.maxAge !== null || entry.extra !== null)) this.#extra(entry).maxAge = update.maxAge
    if (update.device !== undefined && (update.device !== null || entry.extra !== null)) {
      this.#extra(entry).device = update.device === null ? null : copyDevice(update.device)
    }
    // A session left without data is removed (two requests that each deleted one of its keys).
    if (entry.data.length === 0) {
      this.#unindex(id, entry)
      return false
    }
    if (update.user !== undefined && update.user !== (entry.extra?.user ?? null)) {
      this.#unindex(id, entry)
      if (update.user !== null) {
        const extra = this.#extra(entry)
        extra.user = update.user
        extra.handle = update.handle ?? handleOf(id)
        let sessions = this.#users.get(extra.user)
        if (sessions === undefined) this.#users.set(extra.user, sessions = new Map())
        sessions.set(extra.handle, id)
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

  #destroy (id: string): boolean {
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
      // Listed: bound to this user, so its extra (user, handle) is there.
      const extra = entry.extra as Extra
      const epoch = this.#epoch
      const info: SessionInfo = {
        handle: extra.handle as string,
        createdAt: entry.createdAt + epoch,
        lastAccessAt: entry.lastAccessAt + epoch,
        expiresAt: entry.expiresAt === null ? null : entry.expiresAt + epoch
      }
      if (extra.device !== null) info.device = copyDevice(extra.device)
      list.push(info)
    }
    return list.sort((a, b) => b.lastAccessAt - a.lastAccessAt)
  }

  async revoke (user: string, handle: string): Promise<boolean> {
    const id = this.#users.get(user)?.get(handle)
    return id !== undefined && this.#destroy(id)
  }

  async revokeAll (user: string, except?: string): Promise<number> {
    const sessions = this.#users.get(user)
    if (sessions === undefined) return 0
    let revoked = 0
    for (const [handle, id] of [...sessions]) {
      if (handle !== except && this.#destroy(id)) revoked++
    }
    return revoked
  }

  /** Drops expired sessions from a bounded slice of the store; runs on a timer, callable directly. */
  sweep (): void {
    const now = Date.now() - this.#epoch
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

  /** The data after `update`, in a new array of exactly its size (one grown by push keeps room for ~16 more). */
  #applyData (data: string[], update: SessionUpdate): string[] {
    const next = update.replace ? [] : data.slice()
    for (const key of update.delete) {
      const i = indexOfKey(next, key)
      if (i !== -1) next.splice(i, 2)
    }
    for (const [key, value] of update.set) {
      const i = indexOfKey(next, key)
      if (i === -1) next.push(key, value)
      else next[i + 1] = value
    }
    return next.slice()
  }

  #extra (entry: Entry): Extra {
    return entry.extra ??= { maxAge: null, user: null, device: null, handle: null }
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
    const extra = entry.extra
    if (extra === null || extra.user === null) return
    const sessions = this.#users.get(extra.user) as Map<string, string>
    sessions.delete(extra.handle as string)
    if (sessions.size === 0) this.#users.delete(extra.user)
    extra.user = null
    extra.handle = null
  }

  #live (id: string): Entry | null {
    // Sessions in use are in protected: looked up first.
    const entry = this.#protected.map.get(id) ?? this.#probation.map.get(id)
    if (entry === undefined) return null
    if (entry.deadline <= Date.now() - this.#epoch) {
      this.#remove(id, entry)
      return null
    }
    return entry
  }
}
