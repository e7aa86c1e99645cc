import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto'
import { InvalidOptionError } from '../errors.ts'
import { FifoCache } from '../FifoCache.ts'
import type { SessionRecord } from '../types.ts'

/** Options of the client-side store. */
export interface CookieStoreOptions {
  /**
   * Largest `Set-Cookie` `name=value` in bytes; a bigger session fails the request with
   * `FST_SESSION_TOO_LARGE` instead of a cookie the browser silently drops.
   * @default 4096
   */
  maxSize?: number
}

/** A cookie value that `open` accepted. */
export interface OpenedCookie {
  id: string
  record: SessionRecord
  /** `true`: sealed with a key other than the first; the plugin re-seals it with the first in this response. */
  stale: boolean
}

const DEFAULTS = { maxSize: 4096 }
/** Below this hardly any session fits: version, nonce, tag, ID and times alone seal to ~145 bytes. */
const MIN_MAX_SIZE = 256
const MIN_SECRET_LENGTH = 32

/** Wire format: `VERSION (1) | nonce (12) | AES-256-GCM ciphertext | tag (16)`, base64url. */
const VERSION = 1
const NONCE_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = 1 + NONCE_BYTES
const OVERHEAD = HEADER_BYTES + TAG_BYTES
/** The version byte is authenticated as additional data, so it cannot be swapped without failing the tag. */
const AAD = Buffer.from([VERSION])
/** Fixed HKDF salt and info: keys for this purpose only, never equal to the ID-signing HMAC key. */
const HKDF_SALT = 'fastify-lazy-session'
const HKDF_INFO = 'fastify-lazy-session CookieStore AES-256-GCM key v1'
const KEY_BYTES = 32

const BASE64URL = /^[A-Za-z0-9_-]+$/
/** char code → 6-bit value of a base64url character */
const SEXTETS = new Uint8Array(128)
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) SEXTETS[c.charCodeAt(0)] = i
/**
 * Opened sessions are remembered by cookie value, up to this many characters of values in all: a browser sends
 * the same value until a response changes it, and one AES-GCM open costs more than the rest of a session read.
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
 * The cache is keyed by a value's version and nonce (the first 18 bytes, 24 characters): a random nonce is never
 * sealed twice, and a short key is hashed in a fraction of the time of a 200-character value. A hit still requires
 * the whole value to be equal.
 */
const KEY_CHARS = 24
/** Nonces are cut from a pool refilled by one `randomFillSync` per 128 seals: a call per seal costs a quarter of the seal. */
const NONCE_POOL_BYTES = NONCE_BYTES * 128

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

/**
 * The whole session lives in the cookie, encrypted and authenticated with AES-256-GCM under keys derived
 * (HKDF-SHA256) from the plugin's `secret` list: the first key seals, every key opens (rotation).
 *
 * Expiry is not checked here: `createdAt`, `lastAccessAt` and `expiresAt` travel inside the sealed payload,
 * where the client cannot change them, and the plugin enforces `lifetime`, `idleTimeout` and `absoluteTimeout`
 * from them after `open`, the same way it does for server-side stores.
 */
export class CookieStore {
  /** Largest `Set-Cookie` `name=value` in bytes. */
  readonly maxSize: number
  #keys: KeyObject[] = []
  #secrets: readonly string[] | null = null
  readonly #noncePool = Buffer.allocUnsafe(NONCE_POOL_BYTES)
  #nonceOffset = NONCE_POOL_BYTES
  /** cookie value → what it opens to; insertion order is eviction order */
  readonly #cache = new FifoCache<CacheEntry>(CACHE_ENTRIES, CACHE_CHARS)

  constructor (options: CookieStoreOptions = {}) {
    const maxSize = options.maxSize ?? DEFAULTS.maxSize
    if (typeof maxSize !== 'number' || !Number.isSafeInteger(maxSize) || maxSize < MIN_MAX_SIZE) {
      throw new InvalidOptionError(`CookieStore \`maxSize\` must be an integer number of bytes ≥ ${MIN_MAX_SIZE}`)
    }
    this.maxSize = maxSize
  }

  /**
   * Derives one key per secret; called once by the plugin at `register`. The first secret seals, all open.
   * A store is bound to one secret list: registering it again with another list is refused.
   */
  useSecrets (secrets: readonly string[]): void {
    if (!Array.isArray(secrets) || secrets.length === 0 || !secrets.every(s => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)) {
      throw new InvalidOptionError('`secret`: every secret must be a string of at least 32 characters')
    }
    if (this.#secrets !== null) {
      if (this.#secrets.length === secrets.length && this.#secrets.every((s, i) => s === secrets[i])) return
      throw new InvalidOptionError('`store`: this CookieStore is already used with another `secret` list; create one CookieStore per registration')
    }
    this.#secrets = [...secrets]
    this.#keys = secrets.map(secret => createSecretKey(Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, HKDF_INFO, KEY_BYTES))))
  }

  /** Seals session `id` and `record` into a cookie value (base64url), under a fresh random nonce. */
  seal (id: string, record: SessionRecord): string {
    const key = this.#ready()[0] as KeyObject
    const payload: Array<string | number | null> = [id, record.createdAt, record.lastAccessAt, record.expiresAt]
    for (const [name, value] of record.data) payload.push(name, value)

    const nonce = this.#nonce()
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(AAD)
    const ciphertext = cipher.update(JSON.stringify(payload), 'utf8')
    cipher.final()

    const out = Buffer.allocUnsafe(OVERHEAD + ciphertext.length)
    out[0] = VERSION
    nonce.copy(out, 1)
    ciphertext.copy(out, HEADER_BYTES)
    cipher.getAuthTag().copy(out, HEADER_BYTES + ciphertext.length)
    return out.toString('base64url')
  }

  /**
   * Opens a cookie value. `null` for anything that one of our keys did not seal, byte for byte
   * (tampered, truncated, re-encoded, foreign, malformed, larger than `maxSize`); never throws on input.
   */
  open (value: string): OpenedCookie | null {
    const keys = this.#ready()
    if (typeof value !== 'string' || value.length > this.maxSize) return null
    const cached = this.#cache.get(value.slice(0, KEY_CHARS))
    if (cached !== undefined && cached.value === value) {
      const { id, record: { data, createdAt, lastAccessAt, expiresAt }, stale } = cached.opened
      return { id, record: { data: new Map(data), createdAt, lastAccessAt, expiresAt }, stale }
    }
    if (!isCanonicalBase64url(value)) return null
    const bytes = Buffer.from(value, 'base64url')
    if (bytes.length <= OVERHEAD || bytes[0] !== VERSION) return null

    const nonce = bytes.subarray(1, HEADER_BYTES)
    const ciphertext = bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)
    const tag = bytes.subarray(bytes.length - TAG_BYTES)
    for (let i = 0; i < keys.length; i++) {
      const plaintext = decrypt(keys[i] as KeyObject, nonce, ciphertext, tag)
      if (plaintext === null) continue
      const opened = decode(plaintext.toString('utf8'), i > 0)
      if (opened === null) return null
      // the entry keeps its own copy: the caller owns (and may change) the Map it gets
      const { id, record, stale } = opened
      this.#cache.set(value.slice(0, KEY_CHARS), { value, opened: { id, record: { ...record, data: new Map(record.data) }, stale } }, value.length)
      return opened
    }
    return null
  }

  #ready (): KeyObject[] {
    if (this.#keys.length === 0) {
      throw new Error('CookieStore: call useSecrets() before seal() or open() — the fastify-lazy-session plugin does this when the store is registered')
    }
    return this.#keys
  }

  #nonce (): Buffer {
    if (this.#nonceOffset === NONCE_POOL_BYTES) {
      randomFillSync(this.#noncePool)
      this.#nonceOffset = 0
    }
    const nonce = this.#noncePool.subarray(this.#nonceOffset, this.#nonceOffset + NONCE_BYTES)
    this.#nonceOffset += NONCE_BYTES
    return nonce
  }
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

function decrypt (key: KeyObject, nonce: Buffer, ciphertext: Buffer, tag: Buffer): Buffer | null {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
  decipher.setAAD(AAD)
  decipher.setAuthTag(tag)
  const plaintext = decipher.update(ciphertext)
  try {
    decipher.final()
  } catch {
    return null
  }
  return plaintext
}

/** `[id, createdAt, lastAccessAt, expiresAt, key1, value1, …]` → record; keys go into a Map, never onto an object. */
function decode (plaintext: string, stale: boolean): OpenedCookie | null {
  let payload: unknown
  try {
    payload = JSON.parse(plaintext)
  } catch {
    return null
  }
  if (!Array.isArray(payload) || payload.length < 4 || (payload.length & 1) === 1) return null
  const [id, createdAt, lastAccessAt, expiresAt] = payload as unknown[]
  if (typeof id !== 'string' || typeof createdAt !== 'number' || typeof lastAccessAt !== 'number' ||
    (expiresAt !== null && typeof expiresAt !== 'number')) return null
  const data = new Map<string, string>()
  for (let i = 4; i < payload.length; i += 2) {
    const name: unknown = payload[i]
    const value: unknown = payload[i + 1]
    if (typeof name !== 'string' || typeof value !== 'string') return null
    data.set(name, value)
  }
  return { id, record: { data, createdAt, lastAccessAt, expiresAt }, stale }
}
