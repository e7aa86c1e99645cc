import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** 24 random bytes = 192 bits, base64url: 32 characters. */
const ID_BYTES = 24
const ID_LENGTH = 32
/** HMAC-SHA256 = 32 bytes, base64url: 43 characters. */
const SIGNATURE_LENGTH = 43
const SIGNED_LENGTH = ID_LENGTH + 1 + SIGNATURE_LENGTH
const BASE64URL = /^[A-Za-z0-9_-]+$/

/** A new session ID: 192 bits from `crypto.randomBytes`. */
export function generateId (): string {
  return randomBytes(ID_BYTES).toString('base64url')
}

/** Signs and verifies session IDs with HMAC-SHA256; the first secret signs, every secret verifies. */
export class IdSigner {
  readonly #secrets: readonly string[]

  constructor (secrets: readonly string[]) {
    this.#secrets = secrets
  }

  /** `id.signature` — the cookie value. */
  sign (id: string): string {
    return id + '.' + this.#mac(this.#secrets[0] as string, id).toString('base64url')
  }

  /**
   * The ID inside a signed cookie value, or `null` when it was not signed by one of our secrets.
   * `stale` is true when an older secret signed it (the cookie is then re-signed with the first).
   */
  verify (value: string): { id: string, stale: boolean } | null {
    if (value.length !== SIGNED_LENGTH || value.charCodeAt(ID_LENGTH) !== 46 /* . */) return null
    const id = value.slice(0, ID_LENGTH)
    const signature = value.slice(ID_LENGTH + 1)
    if (!BASE64URL.test(id) || !BASE64URL.test(signature)) return null
    const given = Buffer.from(signature, 'base64url')
    // Canonical encoding only: a re-encoded signature that decodes to the same bytes is refused.
    if (given.length !== 32 || given.toString('base64url') !== signature) return null
    for (let i = 0; i < this.#secrets.length; i++) {
      if (timingSafeEqual(given, this.#mac(this.#secrets[i] as string, id))) return { id, stale: i > 0 }
    }
    return null
  }

  #mac (secret: string, id: string): Buffer {
    return createHmac('sha256', secret).update(id).digest()
  }
}
