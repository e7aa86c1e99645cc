import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { FifoCache } from '../lib/FifoCache.ts'
import { assertProperty, runs } from './fixtures/property.ts'

// The bounded caches behind verified cookie values (IdSigner) and opened sealed cookies (CookieStore).

t.test('keeps the newest entries within the entry bound, forgetting the oldest first', async (t) => {
  const cache = new FifoCache<number>(3)
  for (let i = 0; i < 5; i++) cache.set(`k${i}`, i)
  t.same(['k0', 'k1', 'k2', 'k3', 'k4'].map((k) => cache.get(k)), [undefined, undefined, 2, 3, 4])
})

t.test('keeps the total key length within the character bound; a lone oversized key still fits', async (t) => {
  const cache = new FifoCache<number>(100, 10)
  cache.set('aaaa', 1)
  cache.set('bbbb', 2)
  cache.set('cccc', 3)
  t.same([cache.get('aaaa'), cache.get('bbbb'), cache.get('cccc')], [undefined, 2, 3], '12 characters > 10: the oldest left')
  cache.set('x'.repeat(20), 4)
  t.same([cache.get('bbbb'), cache.get('cccc'), cache.get('x'.repeat(20))], [undefined, undefined, 4])
})

const KEYS = ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff']

t.test('within its bounds, always with the newest value of a key and always the key just set (duplicates included)', async (t) => {
  const op = fc.tuple(fc.constantFrom(...KEYS), fc.nat(99))
  await assertProperty(t, fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 15 }), fc.array(op, { maxLength: 60 }), async (maxEntries, maxChars, ops) => {
    const cache = new FifoCache<number>(maxEntries, maxChars)
    const newest = new Map<string, number>()
    for (const [key, value] of ops) {
      cache.set(key, value)
      newest.set(key, value)
      assert.equal(cache.get(key), value, 'the key just set is there')
      const present = KEYS.filter((k) => cache.get(k) !== undefined)
      for (const k of present) assert.equal(cache.get(k), newest.get(k), `${k} has its newest value`)
      assert.ok(present.length <= maxEntries, 'entry bound')
      const chars = present.reduce((sum, k) => sum + k.length, 0)
      assert.ok(chars <= maxChars || present.length === 1, 'character bound')
    }
  }), runs(300))
})

t.test('with distinct keys, holds exactly the newest run of keys that fits both bounds', async (t) => {
  await assertProperty(t, fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 40 }), async (maxEntries, maxChars, keys) => {
    const cache = new FifoCache<number>(maxEntries, maxChars)
    keys.forEach((key, i) => {
      cache.set(key, i)
      // the expected suffix: walk back from the newest while both bounds hold (the newest always stays)
      let start = i
      let chars = key.length
      while (start > 0 && i - start + 1 < maxEntries && chars + (keys[start - 1] as string).length <= maxChars) {
        start--
        chars += (keys[start] as string).length
      }
      const held = keys.slice(0, i + 1).filter((k) => cache.get(k) !== undefined)
      assert.deepEqual(held, keys.slice(start, i + 1))
    })
  }), runs(300))
})
