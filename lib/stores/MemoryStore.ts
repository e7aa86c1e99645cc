import { InvalidOptionError } from '../errors.ts'
import type { SessionRecord, SessionStore, SessionUpdate } from '../types.ts'

/** Options of the embedded in-process store. */
export interface MemoryStoreOptions {
  /** Most sessions kept; past it the least recently used one is evicted. @default 100000 */
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
  /** the session's own lifetime in ms, or `null`: the plugin's */
  maxAge: number | null
  /** ms since epoch when the entry is dropped */
  deadline: number
}

const DEFAULTS = { maxSessions: 100_000, gcTtl: 86_400, sweepInterval: 1000 }
/** Entries a sweep looks at, so a sweep never blocks the event loop for long. */
const SWEEP_SLICE = 2000

function positive (options: MemoryStoreOptions, name: keyof MemoryStoreOptions): number {
  const value = options[name] ?? DEFAULTS[name]
  if (typeof value !== 'number' || !(value > 0)) {
    throw new InvalidOptionError(`MemoryStore \`${name}\` must be a positive number`)
  }
  return value
}

/**
 * The embedded default store: sessions live in this process, expire by TTL (checked on read and by a
 * sweep on an unref'd timer) and are bounded by `maxSessions`. Saves are applied synchronously, so each
 * is atomic; values are stored serialized, so no request shares an object with another.
 */
export class MemoryStore implements SessionStore {
  readonly #entries = new Map<string, Entry>()
  readonly #maxSessions: number
  readonly #gcTtl: number
  readonly #timer: NodeJS.Timeout
  #cursor: MapIterator<[string, Entry]> | null = null
  /**
   * Walks the sessions oldest first for eviction, keeping its place: a fresh `keys()` iterator would step over every
   * deleted slot at the front of the Map's table before it found the oldest entry (O(deleted) per eviction).
   */
  #oldest: MapIterator<string> | null = null

  constructor (options: MemoryStoreOptions = {}) {
    this.#maxSessions = positive(options, 'maxSessions')
    this.#gcTtl = positive(options, 'gcTtl') * 1000
    this.#timer = setInterval(() => { this.sweep() }, positive(options, 'sweepInterval'))
    this.#timer.unref()
  }

  /** Sessions held now (expired ones not yet swept included). */
  get size (): number {
    return this.#entries.size
  }

  async load (id: string): Promise<SessionRecord | null> {
    const entry = this.#live(id)
    if (entry === null) return null
    // Least recently used first: re-inserting moves the entry to the end of the eviction order.
    this.#entries.delete(id)
    this.#entries.set(id, entry)
    return { data: new Map(entry.data), createdAt: entry.createdAt, lastAccessAt: entry.lastAccessAt, expiresAt: entry.expiresAt, maxAge: entry.maxAge }
  }

  async save (id: string, update: SessionUpdate): Promise<boolean> {
    let entry = this.#live(id)
    if (entry === null) {
      if (!update.create) return false
      entry = { data: new Map(), createdAt: 0, lastAccessAt: 0, expiresAt: null, maxAge: null, deadline: 0 }
    } else {
      this.#entries.delete(id)
    }
    if (update.replace) entry.data.clear()
    for (const key of update.delete) entry.data.delete(key)
    for (const [key, value] of update.set) entry.data.set(key, value)
    entry.createdAt = update.createdAt
    entry.lastAccessAt = update.lastAccessAt
    entry.expiresAt = update.expiresAt
    if (update.maxAge !== undefined) entry.maxAge = update.maxAge
    entry.deadline = Date.now() + (update.ttl === null ? this.#gcTtl : update.ttl * 1000)
    // A session left without data is removed (two requests that each deleted one of its keys).
    if (entry.data.size === 0) return false
    this.#entries.set(id, entry)
    if (this.#entries.size > this.#maxSessions) {
      this.#oldest ??= this.#entries.keys()
      // Never done: every entry before its place is gone and the Map is not empty.
      this.#entries.delete(this.#oldest.next().value as string)
    }
    return true
  }

  async destroy (id: string): Promise<boolean> {
    return this.#live(id) !== null && this.#entries.delete(id)
  }

  /** Drops expired sessions from a bounded slice of the store; runs on a timer, callable directly. */
  sweep (): void {
    const now = Date.now()
    this.#cursor ??= this.#entries.entries()
    for (let i = 0; i < SWEEP_SLICE; i++) {
      const next = this.#cursor.next()
      if (next.done === true) {
        this.#cursor = null
        return
      }
      if (next.value[1].deadline <= now) this.#entries.delete(next.value[0])
    }
  }

  /** Stops the sweep timer; the sessions stay (another app may share this store). */
  close (): void {
    clearInterval(this.#timer)
  }

  #live (id: string): Entry | null {
    const entry = this.#entries.get(id)
    if (entry === undefined) return null
    if (entry.deadline <= Date.now()) {
      this.#entries.delete(id)
      return null
    }
    return entry
  }
}
