/**
 * A bounded string-keyed cache that forgets its oldest entries first, in O(1): the keys wait in a ring in
 * insertion order. (Evicting through a fresh `Map#keys()` iterator costs microseconds per call once the map has
 * churned, because the iterator steps over every deleted slot before it finds the oldest live one.)
 *
 * Bounded by entry count and by the total length of the keys (for caches keyed by large cookie values).
 * Callers add a key only after `get` missed it; a key added twice takes two places and leaves at the first.
 */
export class FifoCache<V> {
  readonly #map = new Map<string, V>()
  readonly #ring: Array<string | undefined>
  readonly #maxChars: number
  #head = 0
  #count = 0
  #chars = 0

  constructor (maxEntries: number, maxChars = Infinity) {
    this.#ring = new Array<string | undefined>(maxEntries)
    this.#maxChars = maxChars
  }

  get (key: string): V | undefined {
    return this.#map.get(key)
  }

  /** Adds `key`, forgetting the oldest entries as the bounds require. */
  set (key: string, value: V): void {
    const ring = this.#ring
    while (this.#count === ring.length || (this.#count > 0 && this.#chars + key.length > this.#maxChars)) {
      const oldest = ring[this.#head] as string
      ring[this.#head] = undefined
      this.#head = (this.#head + 1) % ring.length
      this.#count--
      this.#chars -= oldest.length
      this.#map.delete(oldest)
    }
    ring[(this.#head + this.#count) % ring.length] = key
    this.#count++
    this.#chars += key.length
    this.#map.set(key, value)
  }
}
