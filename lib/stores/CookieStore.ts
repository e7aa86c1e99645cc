/// <reference path="../sodium-native.d.ts" />
import { createDecipheriv, createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto'
import sodium from 'sodium-native'
import { InvalidOptionError, SessionStoreUnavailableError } from '../errors.ts'
import { FifoCache } from '../FifoCache.ts'
import type { SessionDevice, SessionRecord } from '../types.ts'

/** The ioredis calls the Redis-backed revocation list makes (a `Redis` or a `Cluster`). */
export interface CookieRevocationsClient {
  get (key: string): Promise<string | null>
  set (key: string, value: string, mode: 'PX', milliseconds: number): Promise<unknown>
}

/** Where `revokeAll` keeps each user's cut-off time. */
export interface CookieRevocationsOptions {
  /**
   * An ioredis `Redis` or `Cluster` shared by every process of the app; without it the cut-offs live in this process.
   * @default undefined (in-process)
   */
  client?: CookieRevocationsClient
  /** Prefix of the per-user cut-off keys in Redis. @default 'sess:revoked:' */
  prefix?: string
  /**
   * Seconds a cut-off is kept: it must outlive every cookie sealed before it. By default the longer of `gcTtl` and
   * the longest session lifetime this store has sealed or opened; give your longest `lifetime`/`maxAge` when a
   * process that revokes may not have seen one.
   * @default max(gcTtl, longest lifetime seen)
   */
  ttl?: number
  /** Milliseconds after which a Redis call fails with `FST_SESSION_STORE_UNAVAILABLE`. @default 1000 */
  timeout?: number
}

/** Options of the client-side store. */
export interface CookieStoreOptions {
  /**
   * Largest `Set-Cookie` `name=value` in bytes; a bigger session fails the request with
   * `FST_SESSION_TOO_LARGE` instead of a cookie the browser silently drops.
   * @default 4096
   */
  maxSize?: number
  /**
   * A label for this app, authenticated with every cookie (with the cookie name): a value sealed under another
   * context never opens here, even with the same secret.
   * @default ''
   */
  context?: string
  /**
   * Seconds after its last write that a session with no deadline from the plugin (`lifetime: 0`) is refused,
   * as expired: a copied cookie does not open forever.
   * @default 86400
   */
  gcTtl?: number
  /** Where `revokeAll` keeps its per-user cut-off times. @default in-process */
  revocations?: CookieRevocationsOptions
}

/** A cookie value that `open` accepted. */
export interface OpenedCookie {
  id: string
  record: SessionRecord
  /** `true`: sealed with a key other than the first, or in an older format; the plugin re-seals it in this response. */
  stale: boolean
}

const DEFAULTS = { maxSize: 4096, context: '', gcTtl: 86_400, revocationPrefix: 'sess:revoked:', revocationTimeout: 1000 }
/** Below this hardly any session fits: version, nonce, tag, ID and times alone seal to ~180 bytes. */
const MIN_MAX_SIZE = 256
const MIN_SECRET_LENGTH = 32
/** Largest delay setTimeout honours; a larger one would fire at once. */
const MAX_TIMEOUT = 2 ** 31 - 1

/**
 * Wire format 2: `VERSION (1) | nonce (24) | XChaCha20-Poly1305 ciphertext | tag (16)`, base64url. 192-bit random
 * nonces: after 2^48 seals under one key the chance that two share a nonce is about 2^-97, far below 2^-32.
 */
const VERSION = 2
const NONCE_BYTES = 24
const TAG_BYTES = 16
const HEADER_BYTES = 1 + NONCE_BYTES
const OVERHEAD = HEADER_BYTES + TAG_BYTES
/** Fixed HKDF salt and info: keys for this purpose only, never equal to the ID-signing HMAC key. */
const HKDF_SALT = 'fastify-lazy-session'
const HKDF_INFO = 'fastify-lazy-session CookieStore XChaCha20-Poly1305 key v2'
const KEY_BYTES = 32
/** Payload fields before the data pairs: id, createdAt, lastAccessAt, expiresAt, maxAge, user, device. */
const FIELDS = 7

/** Format 1 (AES-256-GCM, 96-bit nonces), still opened so that cookies sealed before the upgrade keep working. */
const V1 = { version: 1, nonceBytes: 12, info: 'fastify-lazy-session CookieStore AES-256-GCM key v1', aad: Buffer.from([1]) }

const BASE64URL = /^[A-Za-z0-9_-]+$/
/** char code → 6-bit value of a base64url character */
const SEXTETS = new Uint8Array(128)
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) SEXTETS[c.charCodeAt(0)] = i
/**
 * Opened sessions are remembered by cookie value, up to this many characters of values in all: a browser sends
 * the same value until a response changes it, and one open costs more than the rest of a session read.
 * Worst case about twice this in memory (the values plus their decoded data).
 *
 * Values are remembered when they are first opened, not when they are sealed: behind a load balancer the next
 * request of a browser mostly reaches another process, and remembering every sealed value cost each write more
 * (in the garbage collector: every entry outlives the young generation) than the one decryption it could save.
 */
const CACHE_CHARS = 1 << 20
/** No sealed value is shorter than this many characters, so the character budget bounds the entries too. */
const CACHE_ENTRIES = CACHE_CHARS / 128
/**
 * The cache is keyed by a value's version and the start of its nonce (the first 24 characters, 18 bytes): a random
 * nonce is never sealed twice, and a short key is hashed in a fraction of the time of a 200-character value. A hit
 * still requires the whole value to be equal.
 */
const KEY_CHARS = 24
/** Nonces are cut from a pool refilled by one `randomFillSync` per 128 seals: a call per seal costs a good part of the seal. */
const NONCE_POOL_BYTES = NONCE_BYTES * 128

/**
 * Scratch space for sealing: the payload's UTF-8 bytes and the sealed bytes (version, nonce, ciphertext, tag).
 * `seal` runs synchronously from start to end, so one set serves every CookieStore of the process; a Buffer (a
 * typed array over memory V8 tracks apart) per step cost a seal more than its encryption did.
 */
const SCRATCH_BYTES = 16_384
const scratch = (() => {
  const message = Buffer.allocUnsafeSlow(SCRATCH_BYTES)
  const sealed = Buffer.allocUnsafeSlow(OVERHEAD + SCRATCH_BYTES)
  sealed[0] = VERSION
  return { message, sealed, nonce: sealed.subarray(1, HEADER_BYTES) }
})()
/** Views of the scratch buffers for one payload length (the cipher takes exactly sized arrays), made once per length. */
const views = new Map<number, { message: Buffer, ciphertext: Buffer }>()

function scratchViews (length: number): { message: Buffer, ciphertext: Buffer } {
  let found = views.get(length)
  if (found === undefined) {
    found = { message: scratch.message.subarray(0, length), ciphertext: scratch.sealed.subarray(HEADER_BYTES, HEADER_BYTES + length + TAG_BYTES) }
    views.set(length, found)
  }
  return found
}

/** Bytes of `name=value` in UTF-8: what browsers count against their per-cookie limit. */
export function cookieSize (name: string, value: string): number {
  return Buffer.byteLength(name) + 1 + Buffer.byteLength(value)
}

/** A remembered value and what it opened to. Never handed out: each hit gets its own copy of `data`. */
interface CacheEntry {
  /** the whole cookie value: the cache is keyed by its first KEY_CHARS only */
  value: string
  opened: OpenedCookie
}

/** A user's cut-off: cookies of the user sealed at or before `at` are revoked, but for the session `except`. */
interface Cutoff {
  at: number
  except: string
  /** ms since epoch when the in-process entry is forgotten */
  until: number
}

function copyRecord (record: SessionRecord): SessionRecord {
  const copy: SessionRecord = { data: new Map(record.data), createdAt: record.createdAt, lastAccessAt: record.lastAccessAt, expiresAt: record.expiresAt }
  if (record.maxAge != null) copy.maxAge = record.maxAge
  if (record.user != null) copy.user = record.user
  if (record.device != null) copy.device = { ...record.device }
  return copy
}

function positiveOption (value: unknown, name: string, max = Infinity): number {
  if (typeof value !== 'number' || !(value > 0) || !(value <= max)) {
    throw new InvalidOptionError(`CookieStore \`${name}\` must be a positive number${max === Infinity ? '' : ` up to ${max}`}, got ${String(value)}`)
  }
  return value
}

/**
 * The whole session lives in the cookie, encrypted and authenticated with XChaCha20-Poly1305 (libsodium) under
 * keys derived (HKDF-SHA256) from the plugin's `secret` list: the first key seals, every key opens (rotation).
 * The cookie name and `context` are authenticated as additional data.
 *
 * Expiry is not checked here: `createdAt`, `lastAccessAt` and `expiresAt` travel inside the sealed payload,
 * where the client cannot change them, and the plugin enforces `lifetime`, `idleTimeout` and `absoluteTimeout`
 * from them after `open`, the same way it does for server-side stores. A session without `expiresAt` that was
 * last written more than `gcTtl` ago is opened with `expiresAt` at that bound, so the plugin refuses it as expired.
 */
export class CookieStore {
  /** Largest `Set-Cookie` `name=value` in bytes. */
  readonly maxSize: number
  readonly #context: string
  readonly #gcTtl: number
  #keys: Buffer[] = []
  #v1Keys: KeyObject[] = []
  #aad: Buffer = Buffer.alloc(0)
  #secrets: readonly string[] | null = null
  #cookieName: string | null = null
  readonly #noncePool = Buffer.allocUnsafe(NONCE_POOL_BYTES)
  #nonceOffset = NONCE_POOL_BYTES
  /** cookie value → what it opens to; insertion order is eviction order */
  readonly #cache = new FifoCache<CacheEntry>(CACHE_ENTRIES, CACHE_CHARS)
  readonly #revocations: Revocations
  /** the longest lifetime (ms) of a session this store sealed or opened: how long a cut-off must be kept */
  #longest = 0

  constructor (options: CookieStoreOptions = {}) {
    const maxSize = options.maxSize ?? DEFAULTS.maxSize
    if (typeof maxSize !== 'number' || !Number.isSafeInteger(maxSize) || maxSize < MIN_MAX_SIZE) {
      throw new InvalidOptionError(`CookieStore \`maxSize\` must be an integer number of bytes ≥ ${MIN_MAX_SIZE}`)
    }
    this.maxSize = maxSize
    const context = options.context ?? DEFAULTS.context
    if (typeof context !== 'string') throw new InvalidOptionError('CookieStore `context` must be a string')
    this.#context = context
    this.#gcTtl = positiveOption(options.gcTtl ?? DEFAULTS.gcTtl, 'gcTtl') * 1000
    this.#revocations = new Revocations(options.revocations ?? {}, () => Math.max(this.#gcTtl, this.#longest))
  }

  /**
   * Derives one key per secret and binds the store to the cookie name; called once by the plugin at `register`.
   * The first secret seals, all open. A store is bound to one secret list and one cookie name: registering it again
   * with others is refused.
   */
  useSecrets (secrets: readonly string[], cookieName = 'session'): void {
    if (!Array.isArray(secrets) || secrets.length === 0 || !secrets.every(s => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)) {
      throw new InvalidOptionError('`secret`: every secret must be a string of at least 32 characters')
    }
    if (typeof cookieName !== 'string' || cookieName === '') throw new InvalidOptionError('CookieStore: the cookie name must be a non-empty string')
    if (this.#secrets !== null) {
      if (this.#secrets.length !== secrets.length || !this.#secrets.every((s, i) => s === secrets[i])) {
        throw new InvalidOptionError('`store`: this CookieStore is already used with another `secret` list; create one CookieStore per registration')
      }
      if (this.#cookieName !== cookieName) {
        throw new InvalidOptionError('`store`: this CookieStore is already used with another cookie name; create one CookieStore per registration')
      }
      return
    }
    this.#secrets = [...secrets]
    this.#cookieName = cookieName
    this.#keys = secrets.map(secret => Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, HKDF_INFO, KEY_BYTES)))
    this.#v1Keys = secrets.map(secret => createSecretKey(Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, V1.info, KEY_BYTES))))
    // Version, cookie name and context, NUL-separated (a cookie name has no NUL): each one changes the tag.
    this.#aad = Buffer.concat([Buffer.from([VERSION]), Buffer.from(cookieName + '\0' + this.#context, 'utf8')])
  }

  /** Seals session `id` and `record` into a cookie value (base64url), under a fresh random nonce. */
  seal (id: string, record: SessionRecord): string {
    const key = this.#ready()[0] as Buffer
    const payload: Array<string | number | SessionDevice | null> = [id, record.createdAt, record.lastAccessAt, record.expiresAt,
      record.maxAge ?? null, record.user ?? null, record.device ?? null]
    for (const [name, value] of record.data) payload.push(name, value)
    this.#observe(record)

    const json = JSON.stringify(payload)
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a payload that surely fits is sealed in the scratch buffers.
    if (json.length * 3 > SCRATCH_BYTES) {
      const message = Buffer.from(json, 'utf8')
      const out = Buffer.allocUnsafe(OVERHEAD + message.length)
      out[0] = VERSION
      const nonce = out.subarray(1, HEADER_BYTES)
      this.#nonce(nonce, 0)
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out.subarray(HEADER_BYTES), message, this.#aad, null, nonce, key)
      return out.toString('base64url')
    }
    const length = scratch.message.write(json, 0, 'utf8')
    const views = scratchViews(length)
    this.#nonce(scratch.sealed, 1)
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(views.ciphertext, views.message, this.#aad, null, scratch.nonce, key)
    return scratch.sealed.toString('base64url', 0, OVERHEAD + length)
  }

  /**
   * Opens a cookie value. `null` for anything that one of our keys did not seal for this cookie name and context,
   * byte for byte (tampered, truncated, re-encoded, foreign, malformed, larger than `maxSize`); never throws on input.
   */
  open (value: string): OpenedCookie | null {
    const keys = this.#ready()
    if (typeof value !== 'string' || value.length > this.maxSize) return null
    const cached = this.#cache.get(value.slice(0, KEY_CHARS))
    if (cached !== undefined && cached.value === value) {
      const { id, record, stale } = cached.opened
      return { id, record: this.#bounded(copyRecord(record)), stale }
    }
    if (!isCanonicalBase64url(value)) return null
    const bytes = Buffer.from(value, 'base64url')
    let opened: OpenedCookie | null = null
    if (bytes[0] === VERSION && bytes.length > OVERHEAD) {
      const nonce = bytes.subarray(1, HEADER_BYTES)
      const ciphertext = bytes.subarray(HEADER_BYTES)
      const message = Buffer.allocUnsafe(ciphertext.length - TAG_BYTES)
      for (let i = 0; i < keys.length; i++) {
        if (!openV2(message, ciphertext, this.#aad, nonce, keys[i] as Buffer)) continue
        opened = decode(message.toString('utf8'), FIELDS, i > 0)
        break
      }
    } else if (bytes[0] === V1.version && bytes.length > 1 + V1.nonceBytes + TAG_BYTES) {
      // Sealed before format 2: opened once more and re-sealed (stale) in this response.
      const nonce = bytes.subarray(1, 1 + V1.nonceBytes)
      const ciphertext = bytes.subarray(1 + V1.nonceBytes, bytes.length - TAG_BYTES)
      const tag = bytes.subarray(bytes.length - TAG_BYTES)
      for (const key of this.#v1Keys) {
        const plaintext = openV1(key, nonce, ciphertext, tag)
        if (plaintext === null) continue
        opened = decode(plaintext.toString('utf8'), 4, true)
        break
      }
    }
    if (opened === null) return null
    this.#observe(opened.record)
    // the entry keeps its own copy: the caller owns (and may change) the record it gets
    this.#cache.set(value.slice(0, KEY_CHARS), { value, opened: { ...opened, record: copyRecord(opened.record) } }, value.length)
    opened.record = this.#bounded(opened.record)
    return opened
  }

  /**
   * Signs `user` out of every session sealed until now but `except` (a handle): records a per-user cut-off time
   * that `revoked()` checks. Resolves 0: a CookieStore cannot count the cookies it revokes.
   */
  async revokeAll (user: string, except?: string): Promise<number> {
    await this.#revocations.set(user, except ?? '')
    return 0
  }

  /**
   * Whether the session `handle` of `user`, sealed at `sealedAt` (its `lastAccessAt`), was revoked by `revokeAll`:
   * sealed at or before the user's cut-off and not the session it excepted.
   */
  async revoked (user: string, handle: string, sealedAt: number): Promise<boolean> {
    return await this.revokedNow(user, handle, sealedAt)
  }

  /** `revoked()`, answered now when the cut-offs live in this process (a Promise when they live in Redis). */
  revokedNow (user: string, handle: string, sealedAt: number): boolean | Promise<boolean> {
    const cutoff = this.#revocations.get(user)
    if (cutoff instanceof Promise) return cutoff.then((found) => isRevoked(found, handle, sealedAt))
    return isRevoked(cutoff, handle, sealedAt)
  }

  /** A session without a deadline of its own expires `gcTtl` after its last write: then it opens expired. */
  #bounded (record: SessionRecord): SessionRecord {
    if (record.expiresAt === null && Date.now() >= record.lastAccessAt + this.#gcTtl) record.expiresAt = record.lastAccessAt + this.#gcTtl
    return record
  }

  #observe (record: SessionRecord): void {
    if (record.expiresAt !== null && record.expiresAt - record.lastAccessAt > this.#longest) this.#longest = record.expiresAt - record.lastAccessAt
  }

  #ready (): Buffer[] {
    if (this.#keys.length === 0) {
      throw new Error('CookieStore: call useSecrets() before seal() or open() — the fastify-lazy-session plugin does this when the store is registered')
    }
    return this.#keys
  }

  /** Writes a fresh random nonce into `into` at `at`. */
  #nonce (into: Buffer, at: number): void {
    if (this.#nonceOffset === NONCE_POOL_BYTES) {
      randomFillSync(this.#noncePool)
      this.#nonceOffset = 0
    }
    this.#noncePool.copy(into, at, this.#nonceOffset, this.#nonceOffset + NONCE_BYTES)
    this.#nonceOffset += NONCE_BYTES
  }
}

/** Per-user cut-off times of `revokeAll`: in Redis when a client is given, else in this process. */
class Revocations {
  readonly #client: CookieRevocationsClient | null
  readonly #prefix: string
  readonly #ttl: number | null
  readonly #timeout: number
  readonly #defaultTtl: () => number
  /** user → cut-off, oldest first (re-set users move to the end), so expired ones are dropped from the front */
  readonly #local = new Map<string, Cutoff>()

  constructor (options: CookieRevocationsOptions, defaultTtl: () => number) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('CookieStore `revocations` must be an object: { client? , prefix?, ttl?, timeout? }')
    const { client, prefix = DEFAULTS.revocationPrefix, ttl, timeout = DEFAULTS.revocationTimeout } = options
    if (client !== undefined && (client === null || typeof client.get !== 'function' || typeof client.set !== 'function')) {
      throw new InvalidOptionError('CookieStore `revocations.client` must be an ioredis Redis or Cluster')
    }
    if (typeof prefix !== 'string') throw new InvalidOptionError('CookieStore `revocations.prefix` must be a string')
    this.#client = client ?? null
    this.#prefix = prefix
    this.#ttl = ttl === undefined ? null : positiveOption(ttl, 'revocations.ttl') * 1000
    this.#timeout = positiveOption(timeout, 'revocations.timeout', MAX_TIMEOUT)
    this.#defaultTtl = defaultTtl
  }

  async set (user: string, except: string): Promise<void> {
    const now = Date.now()
    const ttl = Math.ceil(this.#ttl ?? this.#defaultTtl())
    if (this.#client !== null) {
      await this.#bounded(this.#client.set(this.#prefix + user, `${now}:${except}`, 'PX', ttl), 'revokeAll')
      return
    }
    for (const [name, cutoff] of this.#local) {
      if (cutoff.until > now) break
      this.#local.delete(name)
    }
    this.#local.delete(user)
    this.#local.set(user, { at: now, except, until: now + ttl })
  }

  /** The user's cut-off: from Redis (a Promise) when a client is given, else from this process, now. */
  get (user: string): Pick<Cutoff, 'at' | 'except'> | null | Promise<Pick<Cutoff, 'at' | 'except'> | null> {
    if (this.#client !== null) {
      return this.#bounded(this.#client.get(this.#prefix + user), 'revoked').then((value) => {
        if (value === null) return null
        const colon = value.indexOf(':')
        return { at: Number(value.slice(0, colon)), except: value.slice(colon + 1) }
      })
    }
    const cutoff = this.#local.get(user)
    return cutoff === undefined || cutoff.until <= Date.now() ? null : cutoff
  }

  /** Settles with `pending`, or rejects after `timeout` ms: a stalled Redis never hangs a request. */
  #bounded<T> (pending: Promise<T>, operation: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new SessionStoreUnavailableError(`CookieStore ${operation}: no reply from Redis within ${this.#timeout} ms`))
      }, this.#timeout)
      pending.then((value) => {
        clearTimeout(timer)
        resolve(value)
      }, (error: Error) => {
        clearTimeout(timer)
        reject(new SessionStoreUnavailableError(`CookieStore ${operation}: ${error.message}`))
      })
    })
  }
}

/** Whether a session `handle` sealed at `sealedAt` falls under the user's cut-off. */
function isRevoked (cutoff: Pick<Cutoff, 'at' | 'except'> | null, handle: string, sealedAt: number): boolean {
  return cutoff !== null && sealedAt <= cutoff.at && handle !== cutoff.except
}

/** base64url alphabet only, and the unused low bits of the last character zero: one encoding per byte string. */
function isCanonicalBase64url (value: string): boolean {
  if (!BASE64URL.test(value)) return false
  const rest = value.length & 3
  if (rest === 0) return true
  if (rest === 1) return false
  // rest 2: the last character carries 2 bits of data (4 unused); rest 3: 4 bits (2 unused)
  return ((SEXTETS[value.charCodeAt(value.length - 1)] as number) & (rest === 2 ? 0x0f : 0x03)) === 0
}

/** XChaCha20-Poly1305 open into `message`; `false` when the tag does not verify. */
function openV2 (message: Buffer, ciphertext: Buffer, aad: Buffer, nonce: Buffer, key: Buffer): boolean {
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(message, null, ciphertext, aad, nonce, key)
    return true
  } catch {
    return false
  }
}

function openV1 (key: KeyObject, nonce: Buffer, ciphertext: Buffer, tag: Buffer): Buffer | null {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
  decipher.setAAD(V1.aad)
  decipher.setAuthTag(tag)
  const plaintext = decipher.update(ciphertext)
  try {
    decipher.final()
  } catch {
    return null
  }
  return plaintext
}

function isDevice (value: unknown): value is SessionDevice {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  for (const [name, field] of Object.entries(value)) {
    if ((name !== 'ip' && name !== 'userAgent' && name !== 'label') || typeof field !== 'string') return false
  }
  return true
}

/**
 * `[id, createdAt, lastAccessAt, expiresAt, (maxAge, user, device,) key1, value1, …]` → record (format 1 has the
 * first four fields only); keys go into a Map, never onto an object.
 */
function decode (plaintext: string, fields: number, stale: boolean): OpenedCookie | null {
  let payload: unknown
  try {
    payload = JSON.parse(plaintext)
  } catch {
    return null
  }
  if (!Array.isArray(payload) || payload.length < fields || ((payload.length - fields) & 1) === 1) return null
  const [id, createdAt, lastAccessAt, expiresAt] = payload as unknown[]
  const [maxAge, user, device] = fields === FIELDS ? payload.slice(4, FIELDS) as unknown[] : [null, null, null]
  if (typeof id !== 'string' || typeof createdAt !== 'number' || typeof lastAccessAt !== 'number' ||
    (expiresAt !== null && typeof expiresAt !== 'number') || (maxAge !== null && typeof maxAge !== 'number') ||
    (user !== null && typeof user !== 'string') || (device !== null && !isDevice(device))) return null
  const data = new Map<string, string>()
  for (let i = fields; i < payload.length; i += 2) {
    const name: unknown = payload[i]
    const value: unknown = payload[i + 1]
    if (typeof name !== 'string' || typeof value !== 'string') return null
    data.set(name, value)
  }
  const record: SessionRecord = { data, createdAt, lastAccessAt, expiresAt }
  if (maxAge !== null) record.maxAge = maxAge
  if (user !== null) record.user = user
  if (device !== null) record.device = device
  return { id, record, stale }
}
