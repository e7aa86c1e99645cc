import { Redis } from 'ioredis'
import type { Cluster } from 'ioredis'
import { InvalidOptionError, SessionStoreUnavailableError } from '../errors.ts'
import type { SessionRecord, SessionStore, SessionUpdate } from '../types.ts'

/** An ioredis client: a single node (`Redis`) or a `Cluster`, in either reply mapping. */
export type RedisStoreClient = Redis<'legacy'> | Redis<'resp3'> | Cluster<'legacy'> | Cluster<'resp3'>

interface RedisStoreCommonOptions {
  /**
   * Prefix of every session key (`prefix + id`), or a function that returns the whole key for an ID.
   * With Redis Cluster, a function may add a hash tag; one session is always one key, so one slot.
   * @default 'sess:'
   */
  prefix?: string | ((id: string) => string)
  /**
   * Seconds a session lives in Redis when the plugin sets no deadline (`lifetime: 0`): every session key carries a TTL.
   * @default 86400
   */
  gcTtl?: number
  /**
   * Milliseconds after which a store operation that has not answered fails with `FST_SESSION_STORE_UNAVAILABLE`,
   * whatever the client's own retry and offline-queue settings.
   * @default 1000
   */
  timeout?: number
}

export interface RedisStoreClientOptions extends RedisStoreCommonOptions {
  /**
   * An ioredis `Redis` or `Cluster` that you own: the store never closes it.
   * @default undefined (give `client` or `url`)
   */
  client: RedisStoreClient
  url?: undefined
}

export interface RedisStoreUrlOptions extends RedisStoreCommonOptions {
  /**
   * A Redis URL (`redis://`, `rediss://`): the store opens its own connection and closes it in `close()`,
   * which the plugin calls when Fastify closes.
   * @default undefined (give `client` or `url`)
   */
  url: string
  client?: undefined
}

export type RedisStoreOptions = RedisStoreClientOptions | RedisStoreUrlOptions

const DEFAULTS = { prefix: 'sess:', gcTtl: 86400, timeout: 1000 } as const

// Largest delay setTimeout honours; a larger one would fire at once.
const MAX_TIMEOUT = 2 ** 31 - 1

// Session hash layout: data field `d:<key>` holds one serialized value; the meta fields below never start with `d:`.
const DATA = 'd:'

// The scripts pass the session as one JSON string each way (Redis' built-in cjson): a reply or command of many
// RESP elements costs the Node side more to build and parse than the JSON does.

// KEYS[1] session hash. Returns nil when there is none, else the flat [field, value, ...] list as a JSON array
// (not ioredis' hgetall, which would build an object and lose `__proto__`).
const LOAD_LUA = `local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
return cjson.encode(fields)`

// KEYS[1] session hash. ARGV[1]: a JSON array of strings: create, replace, ttl ms, createdAt, lastAccessAt,
// expiresAt ('' = none), number of set pairs n, n × (key, value), keys to delete. Returns 0 when an existing
// session is gone (nothing written), or when this save left it without data (it is removed: three meta fields are
// all that is left). One HSET for the meta and data fields (in slices under Lua's unpack limit); HLEN only after deletes.
const SAVE_LUA = `local key = KEYS[1]
local a = cjson.decode(ARGV[1])
if a[1] == '0' and redis.call('EXISTS', key) == 0 then return 0 end
if a[2] == '1' then redis.call('DEL', key) end
local fields = {'createdAt', a[4], 'lastAccessAt', a[5], 'expiresAt', a[6]}
local last = 7 + 2 * tonumber(a[7])
for i = 8, last, 2 do
  fields[#fields + 1] = '${DATA}' .. a[i]
  fields[#fields + 1] = a[i + 1]
end
for i = 1, #fields, 7000 do redis.call('HSET', key, unpack(fields, i, math.min(i + 6999, #fields))) end
for i = last + 1, #a do redis.call('HDEL', key, '${DATA}' .. a[i]) end
if (a[2] == '1' or #a > last) and redis.call('HLEN', key) <= 3 then redis.call('DEL', key) return 0 end
redis.call('PEXPIRE', key, a[3])
return 1`

// Names of the commands the store defines on the client; unique so they never shadow the user's own.
const LOAD_COMMAND = 'fastifyLazySessionLoad'
const SAVE_COMMAND = 'fastifyLazySessionSave'

type LoadCommand = (key: string) => Promise<string | null>
type SaveCommand = (key: string, args: string) => Promise<number>
type ScriptCommands = Record<typeof LOAD_COMMAND, LoadCommand> & Record<typeof SAVE_COMMAND, SaveCommand>

/**
 * Sessions in Redis (single node or Cluster): one hash per session, one round trip per load and per save,
 * each save applied atomically by a Lua script.
 */
export class RedisStore implements SessionStore {
  #client: RedisStoreClient
  #owned: boolean
  #key: (id: string) => string
  #gcTtlMs: number
  #timeout: number
  #closed = false
  /** operations not settled yet, oldest first from `#first` (settled ones may remain behind it) */
  #deadlines: Deadline[] = []
  #first = 0
  #timer: NodeJS.Timeout | null = null

  constructor (options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidOptionError('RedisStore options must be an object with `client` or `url`')
    }
    const { client, url, prefix = DEFAULTS.prefix, gcTtl = DEFAULTS.gcTtl, timeout = DEFAULTS.timeout } = options
    if (client !== undefined && url !== undefined) {
      throw new InvalidOptionError('RedisStore takes `client` or `url`, not both')
    }
    if (client !== undefined && (client === null || typeof (client as Partial<RedisStoreClient>).defineCommand !== 'function')) {
      throw new InvalidOptionError('RedisStore `client` must be an ioredis Redis or Cluster')
    }
    if (client === undefined && (typeof url !== 'string' || url === '')) {
      throw new InvalidOptionError('RedisStore needs `client` (an ioredis Redis or Cluster) or `url` (a Redis URL string)')
    }
    if (typeof prefix === 'string') {
      this.#key = (id) => prefix + id
    } else if (typeof prefix === 'function') {
      this.#key = prefix
    } else {
      throw new InvalidOptionError('RedisStore `prefix` must be a string or a function (id) => key')
    }
    if (typeof gcTtl !== 'number' || !(gcTtl > 0) || !Number.isFinite(gcTtl)) {
      throw new InvalidOptionError(`RedisStore \`gcTtl\` must be a positive number of seconds, got ${String(gcTtl)}`)
    }
    if (typeof timeout !== 'number' || !(timeout > 0) || timeout > MAX_TIMEOUT) {
      throw new InvalidOptionError(`RedisStore \`timeout\` must be a positive number of milliseconds up to ${MAX_TIMEOUT}, got ${String(timeout)}`)
    }
    this.#gcTtlMs = Math.ceil(gcTtl * 1000)
    this.#timeout = timeout
    this.#owned = client === undefined
    if (client === undefined) {
      // Connects in the background: a Redis that is down must not stop the app from starting.
      const own = new Redis(url as string)
      // Failures reach the caller through each operation; without a listener ioredis prints every reconnect error.
      own.on('error', noop)
      this.#client = own
    } else {
      this.#client = client
    }
    // Not `readOnly`: with Cluster `scaleReads`, a replica could still return a session that was just destroyed.
    this.#client.defineCommand(LOAD_COMMAND, { lua: LOAD_LUA, numberOfKeys: 1 })
    this.#client.defineCommand(SAVE_COMMAND, { lua: SAVE_LUA, numberOfKeys: 1 })
  }

  async load (id: string): Promise<SessionRecord | null> {
    const key = this.#key(id)
    const json = await this.#bounded((this.#client as unknown as ScriptCommands)[LOAD_COMMAND](key), 'load', id, key)
    if (json === null) return null
    const reply = JSON.parse(json) as string[]
    const data = new Map<string, string>()
    let createdAt = Number.NaN
    let lastAccessAt = Number.NaN
    let expiresAt: number | null = null
    for (let i = 0; i < reply.length; i += 2) {
      const field = reply[i] as string
      const value = reply[i + 1] as string
      if (field.startsWith(DATA)) {
        data.set(decodeText(field.slice(DATA.length)), decodeText(value))
      } else if (field === 'createdAt') {
        createdAt = Number(value)
      } else if (field === 'lastAccessAt') {
        lastAccessAt = Number(value)
      } else if (field === 'expiresAt') {
        expiresAt = value === '' ? null : Number(value)
      }
    }
    // No hash, or one this store did not write.
    if (Number.isNaN(createdAt)) return null
    return { data, createdAt, lastAccessAt, expiresAt }
  }

  async save (id: string, update: SessionUpdate): Promise<boolean> {
    const key = this.#key(id)
    const ttlMs = update.ttl === null ? this.#gcTtlMs : Math.ceil(update.ttl * 1000)
    if (!Number.isSafeInteger(ttlMs)) {
      // Checked here because a script that fails half-way keeps the writes made before the failure.
      throw new TypeError('RedisStore save: `ttl` must be a finite number of seconds or null')
    }
    const set = update.set
    const args: string[] = [
      update.create ? '1' : '0',
      update.replace ? '1' : '0',
      String(ttlMs),
      String(update.createdAt),
      String(update.lastAccessAt),
      update.expiresAt === null ? '' : String(update.expiresAt),
      String(set.size)
    ]
    for (const [field, value] of set) args.push(encodeText(field), encodeText(value))
    for (const field of update.delete) args.push(encodeText(field))
    const written = await this.#bounded((this.#client as unknown as ScriptCommands)[SAVE_COMMAND](key, JSON.stringify(args)), 'save', id, key)
    return written === 1
  }

  async destroy (id: string): Promise<boolean> {
    const key = this.#key(id)
    return await this.#bounded(this.#client.del(key), 'destroy', id, key) === 1
  }

  /** Quits the connection the store opened from `url`; a `client` you passed stays open. */
  async close (): Promise<void> {
    if (!this.#owned || this.#closed) return
    this.#closed = true
    try {
      await this.#bounded(this.#client.quit(), 'close', '', '')
    } catch {
      // Redis is unreachable or too slow to say goodbye: drop the socket and stop reconnecting.
      this.#client.disconnect()
    }
  }

  /** Settles with `pending`, or rejects after `timeout` ms; errors never carry the session ID or key. */
  #bounded<T> (pending: Promise<T>, operation: string, id: string, key: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline: Deadline = { at: performance.now() + this.#timeout, operation, reject, settled: false }
      this.#watch(deadline)
      pending.then((value) => {
        deadline.settled = true
        this.#trim()
        resolve(value)
      }, (error: Error) => {
        deadline.settled = true
        this.#trim()
        // A new error: ioredis errors carry the command arguments (key and values) in `command`.
        const message = redact(redact(error.message, key, '<key>'), id, '<id>')
        reject(new SessionStoreUnavailableError(`RedisStore ${operation}: ${message}`))
      })
    })
  }

  // Every operation has the same timeout, so deadlines come due in the order operations start: they wait in a
  // queue under one timer, set for the oldest unsettled one (a timer per operation cost more than the rest of it).
  // The queue holds at most the operations started within one timeout: by then its oldest has settled or failed.

  #watch (deadline: Deadline): void {
    this.#deadlines.push(deadline)
    if (this.#timer === null) this.#arm()
  }

  /** Drops settled operations from the front; stops the timer when none is left. */
  #trim (): void {
    const deadlines = this.#deadlines
    while (this.#first < deadlines.length && (deadlines[this.#first] as Deadline).settled) this.#first++
    if (this.#first === deadlines.length) {
      deadlines.length = 0
      this.#first = 0
      if (this.#timer !== null) {
        clearTimeout(this.#timer)
        this.#timer = null
      }
    }
  }

  #arm (): void {
    const oldest = this.#deadlines[this.#first] as Deadline
    this.#timer = setTimeout(this.#expire, Math.max(1, Math.ceil(oldest.at - performance.now())))
  }

  /** Fails every operation past its deadline, then waits for the next one. */
  readonly #expire = (): void => {
    this.#timer = null
    const now = performance.now()
    const deadlines = this.#deadlines
    for (let i = this.#first; i < deadlines.length; i++) {
      const deadline = deadlines[i] as Deadline
      if (deadline.at > now) break
      // (rejecting an operation that settled already does nothing)
      deadline.settled = true
      deadline.reject(new SessionStoreUnavailableError(`RedisStore ${deadline.operation}: no reply from Redis within ${this.#timeout} ms`))
    }
    this.#trim()
    if (this.#first < this.#deadlines.length) this.#arm()
  }
}

/** An operation waiting for Redis, and when it fails with a timeout. */
interface Deadline {
  at: number
  operation: string
  reject: (error: Error) => void
  settled: boolean
}

/**
 * A session key (hash field suffix) or serialized value as stored, losslessly: Redis stores UTF-8, which has no
 * lone surrogates (they would become U+FFFD, distinct keys would merge, and cjson refuses them). Such text, and text
 * that starts with NUL, is stored as NUL + JSON (ASCII).
 */
function encodeText (text: string): string {
  return text.charCodeAt(0) !== 0 && (text as string & { isWellFormed (): boolean }).isWellFormed() ? text : '\0' + JSON.stringify(text)
}

function decodeText (text: string): string {
  return text.charCodeAt(0) === 0 ? JSON.parse(text.slice(1)) as string : text
}

function redact (text: string, secret: string, label: string): string {
  return secret === '' ? text : text.replaceAll(secret, label)
}

function noop (): void {}
