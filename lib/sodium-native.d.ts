// The few libsodium bindings CookieStore uses (sodium-native ships no type declarations).
declare module 'sodium-native' {
  /** Seals `message` into `ciphertext` (message length + 16 bytes: ciphertext then tag); returns the bytes written. */
  export function crypto_aead_xchacha20poly1305_ietf_encrypt (ciphertext: Buffer, message: Buffer, additionalData: Buffer | null, nsec: null, nonce: Buffer, key: Buffer): number
  /** Opens `ciphertext` into `message` (ciphertext length − 16 bytes); throws when the tag does not verify. */
  export function crypto_aead_xchacha20poly1305_ietf_decrypt (message: Buffer, nsec: null, ciphertext: Buffer, additionalData: Buffer | null, nonce: Buffer, key: Buffer): number
}
