import { createRequire } from 'node:module'
import type { Cluster, Redis } from 'ioredis'
import { InvalidOptionError, SessionStoreUnavailableError } from '../errors.ts'
import type { SessionDevice, SessionInfo, SessionRecord, SessionStore, SessionUpdate } from '../types.ts'

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
  /**
   * Saves, destroys and revocations resolve only once `replicas` replicas confirmed the write (`WAIT replicas timeout`,
   * sent with the write in one round trip, on connections of the store's own); fewer within `timeout` ms reject with
   * `FST_SESSION_STORE_UNAVAILABLE` (the write stays on the master). With a Cluster, the WAIT goes to the master of
   * each key's slot.
   * @default undefined (no waiting: replication is asynchronous, a failover can lose the last writes)
   */
  durability?: RedisStoreDurability
}

/** How many replicas must confirm a write before it resolves (see `durability`). */
export interface RedisStoreDurability {
  /** replicas that must acknowledge each write: a whole number ≥ 1 */
  replicas: number
  /**
   * Milliseconds to wait for them (`WAIT`'s timeout; 0, which would wait forever, is refused).
   * @default the store's `timeout`
   */
  timeout?: number
  /**
   * Connections the store opens (`client.duplicate()`) for waiting writes, each holding one write until its WAIT
   * answers: `WAIT` blocks the connection it is sent on, so on the shared client every load would queue behind it
   * (and while replicas are missing, nothing would load at all). Closed by `close()`.
   * @default 8
   */
  connections?: number
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

/**
 * ioredis, loaded only for `{ url }`: an app that never uses Redis should not load it (its command table slows
 * every `process.nextTick` of the process measurably; an app that passes its own client has loaded it anyway).
 */
function loadIoredis (): typeof import('ioredis') {
  return createRequire(import.meta.url)('ioredis') as typeof import('ioredis')
}

const DEFAULTS = { prefix: 'sess:', gcTtl: 86400, timeout: 1000, connections: 8 } as const

// Largest delay setTimeout honours; a larger one would fire at once.
const MAX_TIMEOUT = 2 ** 31 - 1

// Session hash layout: data field `d:<key>` holds one serialized value; the meta fields below never start with `d:`.
const DATA = 'd:'
// Meta fields: times, the handle, the session's own lifetime, the device (JSON), the bound user and its index key.
const META = ['createdAt', 'lastAccessAt', 'expiresAt', 'handle', 'maxAge', 'device', 'user', 'index']

// The scripts pass the session as one JSON string each way (Redis' built-in cjson): a reply or command of many
// RESP elements costs the Node side more to build and parse than the JSON does.

// KEYS[1] session hash. Returns nil when there is none, else the flat [field, value, ...] list as a JSON array
// (not ioredis' hgetall, which would build an object and lose `__proto__`).
const LOAD_LUA = `local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
return cjson.encode(fields)`

// KEYS[1] session hash. ARGV[1]: a JSON array of strings: create, replace, ttl ms, createdAt, lastAccessAt,
// expiresAt ('' = none), number of set pairs n, n × (key, value), keys to delete. ARGV[2]: a JSON object of the
// meta fields to store (absent = unchanged, '' = none; a value equal to the stored one is not rewritten): h handle, a maxAge, d device, u user and i its index
// key; x '1' when the index lives on this node (single node: kept here, atomically; Cluster: the caller does it).
// Returns {status, index to unlink from, index to link to, handle}: status 0 when an existing session is gone
// (nothing written) or this save left it without data (removed); the indexes are '' unless x is not '1'.
// Writes in one HSET (in slices under Lua's unpack limit); counts the data fields only after deletes.
const SAVE_LUA = `local key = KEYS[1]
local a = cjson.decode(ARGV[1])
local m = cjson.decode(ARGV[2])
if a[1] == '0' and redis.call('EXISTS', key) == 0 then return {0, '', '', ''} end
local old = redis.call('HMGET', key, 'handle', 'maxAge', 'device', 'user', 'index')
local replace = a[2] == '1'
if replace then redis.call('DEL', key) end
local fields = {'createdAt', a[4], 'lastAccessAt', a[5], 'expiresAt', a[6]}
local drop = {}
local function meta (name, new, prev)
  if new == prev and not replace then return end
  if new == nil then
    if not replace or not prev then return end
    new = prev
  end
  if new == '' then drop[#drop + 1] = name else fields[#fields + 1] = name fields[#fields + 1] = new end
end
local index = old[5]
local indexField = nil
if m.u ~= nil then
  if m.u == '' then index = false indexField = '' else index = m.i indexField = m.i end
end
meta('handle', m.h, old[1])
meta('maxAge', m.a, old[2])
meta('device', m.d, old[3])
meta('user', m.u, old[4])
meta('index', indexField, old[5])
local last = 7 + 2 * tonumber(a[7])
for i = 8, last, 2 do
  fields[#fields + 1] = '${DATA}' .. a[i]
  fields[#fields + 1] = a[i + 1]
end
for i = 1, #fields, 7000 do redis.call('HSET', key, unpack(fields, i, math.min(i + 6999, #fields))) end
if #drop > 0 then redis.call('HDEL', key, unpack(drop)) end
for i = last + 1, #a do redis.call('HDEL', key, '${DATA}' .. a[i]) end
local ttl = tonumber(a[3])
local gone = ttl <= 0
if not gone and (replace or #a > last) then
  local n = redis.call('HLEN', key)
  for _, v in ipairs(redis.call('HMGET', key, '${META.join("', '")}')) do
    if v then n = n - 1 end
  end
  gone = n <= 0
end
if gone then redis.call('DEL', key) else redis.call('PEXPIRE', key, ttl) end
local handle = m.h or old[1]
local unlink, link = '', ''
if handle then
  if old[5] and (gone or old[5] ~= index) then unlink = old[5] end
  if index and not gone then link = index end
  if m.x == '1' then
    if unlink ~= '' then redis.call('HDEL', unlink, handle) end
    if link ~= '' then
      local left = redis.call('PTTL', link)
      if link ~= old[5] or left < 0 then redis.call('HSET', link, handle, key) end
      if left < ttl then redis.call('PEXPIRE', link, ttl) end
    end
    unlink, link = '', ''
  end
else
  handle = ''
end
if gone then return {0, unlink, link, handle} end
return {1, unlink, link, handle}`

// KEYS[1] session hash; ARGV[1] '1' when the index lives on this node. Returns {removed, index, handle}: the index
// entry the caller must drop (Cluster), or '' when there is none or it was dropped here.
const DESTROY_LUA = `local b = redis.call('HMGET', KEYS[1], 'handle', 'index')
local n = redis.call('DEL', KEYS[1])
if n == 1 and b[1] and b[2] then
  if ARGV[1] ~= '1' then return {1, b[2], b[1]} end
  redis.call('HDEL', b[2], b[1])
end
return {n, '', ''}`

// KEYS[1] a user's index (handle → session key). Single node only: reads every session it names in one round trip,
// drops entries whose session is gone or bound elsewhere. Returns a JSON array of [handle, createdAt, lastAccessAt,
// expiresAt, device] (an empty one encodes as '{}').
const LIST_LUA = `local entries = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #entries, 2 do
  local v = redis.call('HMGET', entries[i + 1], 'createdAt', 'lastAccessAt', 'expiresAt', 'device', 'index')
  if v[1] and v[5] == KEYS[1] then
    out[#out + 1] = {entries[i], v[1], v[2], v[3], v[4] or ''}
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
return cjson.encode(out)`

// KEYS[1] a user's index; ARGV[1] the handle to revoke, or ARGV[2] '1' to revoke all but ARGV[1] ('' = none).
// Single node only. Deletes a session only while it is still bound to this index. Returns how many were removed.
const REVOKE_LUA = `local entries = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #entries, 2 do
  if (ARGV[2] == '1') == (entries[i] ~= ARGV[1]) then
    redis.call('HDEL', KEYS[1], entries[i])
    if redis.call('HGET', entries[i + 1], 'index') == KEYS[1] then n = n + redis.call('DEL', entries[i + 1]) end
  end
end
return n`

// Cluster: KEYS[1] session hash, ARGV[1] the index it must still be bound to. Returns 1 when it removed it.
const REVOKE_SESSION_LUA = `if redis.call('HGET', KEYS[1], 'index') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// Cluster: KEYS[1] a user's index, ARGV handle, session key, ttl ms: adds the entry and keeps the index alive at
// least as long as the session.
const LINK_LUA = `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`

// Names of the commands the store defines on the client; unique so they never shadow the user's own.
const COMMANDS = {
  fastifyLazySessionLoad: LOAD_LUA,
  fastifyLazySessionSave: SAVE_LUA,
  fastifyLazySessionDestroy: DESTROY_LUA,
  fastifyLazySessionList: LIST_LUA,
  fastifyLazySessionRevoke: REVOKE_LUA,
  fastifyLazySessionRevokeSession: REVOKE_SESSION_LUA,
  fastifyLazySessionLink: LINK_LUA
} as const

/** The client's commands the store uses, typed: the scripts above plus a few built-ins. */
interface Commands {
  fastifyLazySessionLoad (key: string): Promise<string | null>
  fastifyLazySessionSave (key: string, args: string, meta: string): Promise<[number, string, string, string]>
  fastifyLazySessionDestroy (key: string, inline: string): Promise<[number, string, string]>
  fastifyLazySessionList (index: string): Promise<string>
  fastifyLazySessionRevoke (index: string, handle: string, allBut: string): Promise<number>
  fastifyLazySessionRevokeSession (key: string, index: string): Promise<number>
  fastifyLazySessionLink (index: string, handle: string, key: string, ttl: string): Promise<number>
  hdel (key: string, ...fields: string[]): Promise<number>
  hgetall (key: string): Promise<Record<string, string>>
  hmget (key: string, ...fields: string[]): Promise<Array<string | null>>
}

/** The meta fields a save changes, as SAVE_LUA's ARGV[2] reads them. */
interface SaveMeta {
  h?: string
  a?: string
  d?: string
  u?: string
  i?: string
  x: '0' | '1'
}

/**
 * Sessions in Redis (single node or Cluster): one hash per session, one round trip per load and per save,
 * each save applied atomically by a Lua script. The per-user index is one hash per user (handle → session key); on a
 * single node the scripts keep it in the same atomic step, on a Cluster (where a user's index and sessions live in
 * different slots) a second call on the index's slot follows the session's.
 */
export class RedisStore implements SessionStore {
  #client: RedisStoreClient
  #commands: Commands
  #owned: boolean
  #key: (id: string) => string
  #gcTtlMs: number
  /** one node: the index is kept inside the session scripts */
  #inline: boolean
  #replicas: number
  #waitMs: number
  /** connections for waiting writes: at most `#poolSize`, idle ones in `#idle`, writes waiting for one in `#queued` */
  #poolSize = 0
  #pool: RedisStoreClient[] = []
  #idle: RedisStoreClient[] = []
  #queued: Array<(connection: RedisStoreClient) => void> = []
  #reads: DeadlineQueue
  /** writes wait for replicas too: a longer deadline when `durability` is set */
  #writes: DeadlineQueue
  #closed = false

  constructor (options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidOptionError('RedisStore options must be an object with `client` or `url`')
    }
    const { client, url, prefix = DEFAULTS.prefix, gcTtl = DEFAULTS.gcTtl, timeout = DEFAULTS.timeout, durability } = options
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
    this.#replicas = 0
    this.#waitMs = 0
    if (durability !== undefined) {
      if (durability === null || typeof durability !== 'object') {
        throw new InvalidOptionError('RedisStore `durability` must be an object { replicas, timeout }')
      }
      const { replicas, timeout: waitMs = Math.ceil(timeout), connections = DEFAULTS.connections } = durability
      if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 1) {
        throw new InvalidOptionError(`RedisStore \`durability.replicas\` must be a whole number ≥ 1, got ${String(replicas)}`)
      }
      if (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 1 || timeout + waitMs > MAX_TIMEOUT) {
        throw new InvalidOptionError(`RedisStore \`durability.timeout\` must be a whole positive number of milliseconds (WAIT 0 would wait forever), got ${String(waitMs)}`)
      }
      if (typeof connections !== 'number' || !Number.isSafeInteger(connections) || connections < 1) {
        throw new InvalidOptionError(`RedisStore \`durability.connections\` must be a whole number ≥ 1, got ${String(connections)}`)
      }
      this.#replicas = replicas
      this.#waitMs = waitMs
      this.#poolSize = connections
    }
    this.#gcTtlMs = Math.ceil(gcTtl * 1000)
    this.#reads = new DeadlineQueue(timeout)
    this.#writes = this.#replicas === 0 ? this.#reads : new DeadlineQueue(timeout + this.#waitMs)
    this.#owned = client === undefined
    if (client === undefined) {
      // Connects in the background: a Redis that is down must not stop the app from starting.
      const own = new (loadIoredis().Redis)(url as string)
      // Failures reach the caller through each operation; without a listener ioredis prints every reconnect error.
      own.on('error', noop)
      this.#client = own
    } else {
      this.#client = client
    }
    this.#inline = !(this.#client as { isCluster?: boolean }).isCluster
    this.#commands = this.#client as unknown as Commands
    defineCommands(this.#client)
  }

  async load (id: string): Promise<SessionRecord | null> {
    const key = this.#key(id)
    const json = await this.#read(this.#commands.fastifyLazySessionLoad(key), 'load', id, key)
    if (json === null) return null
    const reply = JSON.parse(json) as string[]
    const data = new Map<string, string>()
    let createdAt = Number.NaN
    let lastAccessAt = Number.NaN
    let expiresAt: number | null = null
    const record: Partial<SessionRecord> = {}
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
      } else if (field === 'maxAge') {
        record.maxAge = Number(value)
      } else if (field === 'user') {
        record.user = decodeText(value)
      } else if (field === 'device') {
        record.device = parseDevice(value)
      }
    }
    // No hash, or one this store did not write.
    if (Number.isNaN(createdAt)) return null
    return { data, createdAt, lastAccessAt, expiresAt, ...record }
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
    const meta: SaveMeta = { x: this.#inline ? '1' : '0' }
    if (update.handle !== undefined) meta.h = update.handle
    if (update.maxAge !== undefined) meta.a = update.maxAge === null ? '' : String(update.maxAge)
    if (update.device !== undefined) meta.d = update.device === null ? '' : JSON.stringify(update.device)
    if (update.user !== undefined) {
      meta.u = update.user === null ? '' : encodeText(update.user)
      if (update.user !== null) meta.i = this.#indexKey(update.user)
    }
    const [written, unlink, link, handle] = await this.#write((c) => c.fastifyLazySessionSave(key, JSON.stringify(args), JSON.stringify(meta)), 'save', id, key)
    // Cluster: the user's index lives in another slot; the session went first, so a revocation that reads the
    // index in between misses a session that is only now signed in, never one that is signed in and not listed.
    if (unlink !== '' || link !== '') {
      await Promise.all([
        unlink !== '' && this.#write((c) => c.hdel(unlink, handle), 'save', id, key),
        link !== '' && this.#write((c) => c.fastifyLazySessionLink(link, handle, key, String(ttlMs)), 'save', id, key)
      ])
    }
    return written === 1
  }

  async destroy (id: string): Promise<boolean> {
    const key = this.#key(id)
    const [removed, index, handle] = await this.#write((c) => c.fastifyLazySessionDestroy(key, this.#inline ? '1' : '0'), 'destroy', id, key)
    if (index !== '') await this.#write((c) => c.hdel(index, handle), 'destroy', id, key)
    return removed === 1
  }

  async list (user: string): Promise<SessionInfo[]> {
    const index = this.#indexKey(user)
    const rows: Array<Array<string | null>> = []
    if (this.#inline) {
      const json = await this.#read(this.#commands.fastifyLazySessionList(index), 'list', '', '')
      // cjson encodes an empty table as an object
      if (json !== '{}') rows.push(...JSON.parse(json) as string[][])
    } else {
      const entries = Object.entries(await this.#read(this.#commands.hgetall(index), 'list', '', ''))
      const sessions = await Promise.all(entries.map(([, key]) =>
        this.#read(this.#commands.hmget(key, 'createdAt', 'lastAccessAt', 'expiresAt', 'device', 'index'), 'list', '', key)))
      const stale: string[] = []
      for (const [i, [handle]] of entries.entries()) {
        const fields = sessions[i] as Array<string | null>
        if (fields[0] !== null && fields[4] === index) rows.push([handle, ...fields.slice(0, 4)])
        else stale.push(handle)
      }
      if (stale.length > 0) await this.#read(this.#commands.hdel(index, ...stale), 'list', '', '')
    }
    return rows.map(([handle, createdAt, lastAccessAt, expiresAt, device]) => {
      const info: SessionInfo = {
        handle: handle as string,
        createdAt: Number(createdAt),
        lastAccessAt: Number(lastAccessAt),
        expiresAt: expiresAt === '' ? null : Number(expiresAt)
      }
      const parsed = device === '' || device === null ? null : parseDevice(device as string)
      if (parsed !== null) info.device = parsed
      return info
    })
  }

  async revoke (user: string, handle: string): Promise<boolean> {
    return await this.#revoke(user, handle, false) === 1
  }

  async revokeAll (user: string, except?: string): Promise<number> {
    return await this.#revoke(user, except ?? '', true)
  }

  /** Revokes `handle`, or every session of `user` but `handle` when `allBut`: one round trip per slot touched. */
  async #revoke (user: string, handle: string, allBut: boolean): Promise<number> {
    const index = this.#indexKey(user)
    if (this.#inline) {
      return await this.#write((c) => c.fastifyLazySessionRevoke(index, handle, allBut ? '1' : '0'), 'revoke', '', '')
    }
    // The index entries stay: they are stale once their session is gone, and `list` drops them.
    const entries = Object.entries(await this.#read(this.#commands.hgetall(index), 'revoke', '', ''))
      .filter(([entry]) => (entry !== handle) === allBut)
    const removed = await Promise.all(entries.map(([, key]) =>
      this.#write((c) => c.fastifyLazySessionRevokeSession(key, index), 'revoke', '', key)))
    return removed.reduce((sum, n) => sum + n, 0)
  }

  /** The key of a user's index: beside the sessions, and never equal to one (a session key has no `:` after the prefix). */
  #indexKey (user: string): string {
    return this.#key('user:' + user)
  }

  /** Closes the connections the store opened (from `url`, and for `durability`); a `client` you passed stays open. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const connection of this.#pool) connection.disconnect()
    if (!this.#owned) return
    try {
      await this.#read(this.#client.quit(), 'close', '', '')
    } catch {
      // Redis is unreachable or too slow to say goodbye: drop the socket and stop reconnecting.
      this.#client.disconnect()
    }
  }

  #read<T> (pending: Promise<T>, operation: string, id: string, key: string): Promise<T> {
    return this.#bounded(this.#reads, pending, operation, id, key)
  }

  /** A write; with `durability`, sent in one pipeline with `WAIT` (on a Cluster: to the master of the key's slot). */
  #write<T> (command: (target: Commands) => Promise<T>, operation: string, id: string, key: string): Promise<T> {
    if (this.#replicas === 0) return this.#bounded(this.#writes, command(this.#commands), operation, id, key)
    let expired = false
    const pending = this.#acquire().then(async (connection) => {
      try {
        // Timed out while every connection was busy: the caller was told it failed, so it must not happen later.
        if (expired) throw new Error('timed out waiting for a connection')
        const pipeline = connection.pipeline()
        command(pipeline as unknown as Commands)
        pipeline.wait(this.#replicas, this.#waitMs)
        const [[error, value], [waitError, acknowledged]] = await pipeline.exec() as [[Error | null, T], [Error | null, number]]
        if (error !== null) throw error
        if (waitError !== null) throw waitError
        if (acknowledged < this.#replicas) {
          throw new Error(`${acknowledged} of ${this.#replicas} replicas acknowledged the write within ${this.#waitMs} ms`)
        }
        return value
      } finally {
        this.#release(connection)
      }
    })
    return this.#bounded(this.#writes, pending, operation, id, key, () => { expired = true })
  }

  /** A connection for one waiting write: an idle one, a new one while fewer than `connections` are open, or the next one released. */
  #acquire (): Promise<RedisStoreClient> {
    if (this.#closed) return Promise.reject(new Error('the store is closed'))
    const idle = this.#idle.pop()
    if (idle !== undefined) return Promise.resolve(idle)
    if (this.#pool.length < this.#poolSize) {
      const connection = (this.#client as { duplicate (): RedisStoreClient }).duplicate()
      // (the union's `on` overloads do not unify; every client has this one)
      ;(connection as Redis).on('error', noop)
      defineCommands(connection)
      this.#pool.push(connection)
      return Promise.resolve(connection)
    }
    return new Promise((resolve) => this.#queued.push(resolve))
  }

  #release (connection: RedisStoreClient): void {
    const next = this.#queued.shift()
    if (next === undefined) this.#idle.push(connection)
    else next(connection)
  }

  /** Settles with `pending`, or rejects after the queue's timeout; errors never carry the session ID or key. */
  #bounded<T> (queue: DeadlineQueue, pending: Promise<T>, operation: string, id: string, key: string, onExpire: () => void = noop): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline = queue.watch(operation, (error) => {
        onExpire()
        reject(error)
      })
      pending.then((value) => {
        queue.settle(deadline)
        resolve(value)
      }, (error: Error) => {
        queue.settle(deadline)
        // A new error: ioredis errors carry the command arguments (key and values) in `command`.
        const message = redact(redact(error.message, key, '<key>'), id, '<id>')
        reject(new SessionStoreUnavailableError(`RedisStore ${operation}: ${message}`))
      })
    })
  }
}

/**
 * Deadlines of operations that share one timeout: they come due in the order operations start, so they wait in a
 * queue under one timer, set for the oldest unsettled one (a timer per operation cost more than the rest of it).
 * The queue holds at most the operations started within one timeout: by then its oldest has settled or failed.
 */
class DeadlineQueue {
  readonly #timeout: number
  /** operations not settled yet, oldest first from `#first` (settled ones may remain behind it) */
  #deadlines: Deadline[] = []
  #first = 0
  #timer: NodeJS.Timeout | null = null

  constructor (timeout: number) {
    this.#timeout = timeout
  }

  watch (operation: string, reject: (error: Error) => void): Deadline {
    const deadline: Deadline = { at: performance.now() + this.#timeout, operation, reject, settled: false }
    this.#deadlines.push(deadline)
    if (this.#timer === null) this.#arm()
    return deadline
  }

  settle (deadline: Deadline): void {
    deadline.settled = true
    this.#trim()
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

/** Defines the store's scripts on a client. Not `readOnly`: with Cluster `scaleReads`, a replica could still return a session that was just destroyed. */
function defineCommands (client: RedisStoreClient): void {
  for (const [name, lua] of Object.entries(COMMANDS)) client.defineCommand(name, { lua, numberOfKeys: 1 })
}

/** A stored device, keeping only the fields a `SessionDevice` has; `null` when the JSON is not an object. */
function parseDevice (json: string): SessionDevice | null {
  const parsed = JSON.parse(json) as unknown
  if (parsed === null || typeof parsed !== 'object') return null
  const device: SessionDevice = {}
  for (const name of ['ip', 'userAgent', 'label'] as const) {
    const value = (parsed as Record<string, unknown>)[name]
    if (typeof value === 'string') device[name] = value
  }
  return device
}

function noop (): void {}
