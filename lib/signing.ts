import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'
import { FifoCache } from './FifoCache.ts'

/** 24 random bytes = 192 bits, base64url: 32 characters. */
const ID_BYTES = 24
const ID_LENGTH = 32
/** HMAC-SHA256 = 32 bytes, base64url: 43 characters. */
const SIGNATURE_LENGTH = 43
const SIGNED_LENGTH = ID_LENGTH + 1 + SIGNATURE_LENGTH
const BASE64URL = /^[A-Za-z0-9_-]+$/
/**
 * Cookie values whose signature verified recently, with what they verified to. Verification is a pure
 * function of the value and the secrets, so a browser that sends the same cookie again is answered from here
 * (the way fast-jwt caches verified tokens); only values that verified are kept, so garbage cannot fill it.
 */
const VERIFIED_CACHE_SIZE = 10_000

/** What a signed cookie value verified to. */
export interface VerifiedId {
  readonly id: string
  /** an older secret signed it: the cookie is re-signed with the first */
  readonly stale: boolean
  /** `storeKeyOf(id)`, worked out with the verification: a browser sends the same cookie again and again */
  readonly key: string
}

/** A new session ID: 192 bits from `crypto.randomBytes`. */
export function generateId (): string {
  return randomBytes(ID_BYTES).toString('base64url')
}

/**
 * The key a server-side store keeps a session under: SHA-256 of the ID, base64url (43 characters). A copy of a store
 * (a dump, a replica, a backup) holds only these, and no cookie can be made from one.
 */
export function storeKeyOf (id: string): string {
  let key = storeKeys.get(id)
  if (key === undefined) {
    key = createHash('sha256').update(id).digest('base64url')
    storeKeys.set(id, key)
  }
  return key
}

/** Recently hashed IDs: a browser sends the same ID until it changes, and a SHA-256 cost ~5 % of a session read. */
const storeKeys = new FifoCache<string>(VERIFIED_CACHE_SIZE)

/**
 * A session's handle: an opaque, non-secret name (22 characters, 132 bits) derived from its store key, so that
 * listing and revoking can name a session without revealing its ID or its store key.
 */
export function handleOf (storeKey: string): string {
  let handle = handles.get(storeKey)
  if (handle === undefined) {
    handle = createHash('sha256').update('fastify-lazy-session handle\0' + storeKey).digest('base64url').slice(0, 22)
    handles.set(storeKey, handle)
  }
  return handle
}

/** Recently derived handles: every save carries its session's handle, and a SHA-256 cost ~6 % of a session write. */
const handles = new FifoCache<string>(VERIFIED_CACHE_SIZE)

/** Signs and verifies session IDs with HMAC-SHA256; the first secret signs, every secret verifies. */
export class IdSigner {
  readonly #keys: readonly KeyObject[]
  readonly #verified = new FifoCache<VerifiedId>(VERIFIED_CACHE_SIZE)

  constructor (secrets: readonly string[]) {
    this.#keys = secrets.map((secret) => createSecretKey(Buffer.from(secret)))
  }

  /** `id.signature` — the cookie value. */
  sign (id: string): string {
    return id + '.' + this.#mac(this.#keys[0] as KeyObject, id).toString('base64url')
  }

  /** The ID inside a signed cookie value, or `null` when it was not signed by one of our secrets. */
  verify (value: string): VerifiedId | null {
    const known = this.#verified.get(value)
    if (known !== undefined) return known
    if (value.length !== SIGNED_LENGTH || value.charCodeAt(ID_LENGTH) !== 46 /* . */) return null
    const id = value.slice(0, ID_LENGTH)
    const signature = value.slice(ID_LENGTH + 1)
    if (!BASE64URL.test(id) || !BASE64URL.test(signature)) return null
    const given = Buffer.from(signature, 'base64url')
    // Canonical encoding only: a re-encoded signature that decodes to the same bytes is refused.
    if (given.length !== 32 || given.toString('base64url') !== signature) return null
    for (let i = 0; i < this.#keys.length; i++) {
      if (timingSafeEqual(given, this.#mac(this.#keys[i] as KeyObject, id))) {
        const verified: VerifiedId = Object.freeze({ id, stale: i > 0, key: storeKeyOf(id) })
        this.#verified.set(value, verified)
        return verified
      }
    }
    return null
  }

  #mac (key: KeyObject, id: string): Buffer {
    return createHmac('sha256', key).update(id).digest()
  }
}
