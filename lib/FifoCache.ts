/**
 * A bounded string-keyed cache that forgets its oldest entries first, in O(1): the keys wait in a ring in
 * insertion order. (Evicting through a fresh `Map#keys()` iterator costs microseconds per call once the map has
 * churned, because the iterator steps over every deleted slot before it finds the oldest live one.)
 *
 * Bounded by entry count and by a total weight (by default each key's length; for caches of large cookie values).
 * Callers add a key only after `get` missed it; a key added twice takes two places and leaves at the first.
 */
export class FifoCache<V> {
  readonly #map = new Map<string, V>()
  readonly #ring: Array<string | undefined>
  /** weight of the entry at the same place in the ring */
  readonly #weights: number[]
  readonly #maxWeight: number
  #head = 0
  #count = 0
  #weight = 0

  constructor (maxEntries: number, maxWeight = Infinity) {
    this.#ring = new Array<string | undefined>(maxEntries)
    this.#weights = new Array<number>(maxEntries).fill(0)
    this.#maxWeight = maxWeight
  }

  get (key: string): V | undefined {
    return this.#map.get(key)
  }

  /** Adds `key`, forgetting the oldest entries as the bounds require. */
  set (key: string, value: V, weight = key.length): void {
    const ring = this.#ring
    while (this.#count === ring.length || (this.#count > 0 && this.#weight + weight > this.#maxWeight)) {
      const oldest = ring[this.#head] as string
      ring[this.#head] = undefined
      this.#weight -= this.#weights[this.#head] as number
      this.#head = (this.#head + 1) % ring.length
      this.#count--
      this.#map.delete(oldest)
    }
    const place = (this.#head + this.#count) % ring.length
    ring[place] = key
    this.#weights[place] = weight
    this.#count++
    this.#weight += weight
    this.#map.set(key, value)
  }
}
