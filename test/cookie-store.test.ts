import t from 'tap'
import { randomBytes } from 'node:crypto'
import { CookieStore, cookieSize } from '../lib/stores/CookieStore.ts'
import type { SessionRecord } from '../lib/types.ts'
import sodium from 'sodium-native'
import { sealRaw, sealRawV2 } from './fixtures/cookie-seal.ts'

const SECRET = 'a-secret-that-is-at-least-32-characters-long'
const OLD = 'the-old-secret-still-accepted-32-chars!!'
const FOREIGN = 'somebody-elses-secret-of-32-characters-or-more'
const ID = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4'
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

function store (secrets: string[] = [SECRET], options?: ConstructorParameters<typeof CookieStore>[0]): CookieStore {
  const s = new CookieStore(options)
  s.useSecrets(secrets)
  return s
}

function record (data: Array<[string, string]> = [['user', '"alice"']], expiresAt: number | null = 1_700_000_900_000): SessionRecord {
  return { data: new Map(data), createdAt: 1_700_000_000_000, lastAccessAt: 1_700_000_100_000, expiresAt }
}

function sealed (s = store()): string {
  return s.seal(ID, record())
}

/** A sealed value whose length % 4 is `rest` and that passes `test` (the padding value moves the length). */
function sealedWhere (s: CookieStore, rest: number, test: (value: string) => boolean = () => true): string {
  for (let i = 0; ; i++) {
    const value = s.seal(ID, record([['pad', 'x'.repeat(i % 8)]]))
    if (value.length % 4 === rest && test(value)) return value
  }
}

// Every store remembers what it opened: the round trips open with a second store (its own cache) so that
// they go through decryption and decoding even where a test opens a value twice.

t.test('round trip keeps the ID, every key and value, and the times', async t => {
  const sealer = store()
  const s = store()
  const data: Array<[string, string]> = [
    ['__proto__', '{"polluted":true}'],
    ['constructor', '{"prototype":{"polluted":true}}'],
    ['', '""'],
    ['clé 🔑', '"välue ✓ 日本語"'],
    ['lone \ud800 surrogate', '"\\ud800"'],
    ['quote"back\\slash\nnewline', '[1,2,{"a":null}]']
  ]
  const opened = s.open(sealer.seal(ID, record(data)))
  t.ok(opened)
  t.equal(opened?.id, ID)
  t.equal(opened?.stale, false)
  t.same([...opened?.record.data ?? []], data, 'same keys, values and order')
  t.equal(opened?.record.createdAt, 1_700_000_000_000)
  t.equal(opened?.record.lastAccessAt, 1_700_000_100_000)
  t.equal(opened?.record.expiresAt, 1_700_000_900_000)
  t.ok(opened?.record.data instanceof Map, 'data is a Map, keys never land on an object')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
  t.equal(Object.getPrototypeOf(opened?.record), Object.prototype)
})

t.test('round trip of empty data and a browser-session expiry (null)', async t => {
  const now = Date.now()
  const opened = store().open(store().seal(ID, { data: new Map(), createdAt: now - 1000, lastAccessAt: now, expiresAt: null }))
  t.same(opened, { id: ID, record: { data: new Map(), createdAt: now - 1000, lastAccessAt: now, expiresAt: null }, stale: false })
  t.equal(opened?.record.data.size, 0)
})

t.test('cookie values use base64url characters only', async t => {
  const s = store()
  for (let i = 0; i < 50; i++) {
    t.match(s.seal(ID, record([['k', String(i).repeat(i)]])), /^[A-Za-z0-9_-]+$/)
  }
})

t.test('a fresh nonce per seal: the same input never gives the same value', async t => {
  const s = store()
  const other = store()
  const values = new Set<string>()
  const nonces = new Set<string>()
  // more seals than one nonce pool holds (128), so the pool is refilled at least once
  for (let i = 0; i < 300; i++) {
    const value = sealed(s)
    values.add(value)
    nonces.add(Buffer.from(value, 'base64url').subarray(1, 13).toString('hex'))
    t.equal(other.open(value)?.id, ID)
  }
  t.equal(values.size, 300)
  t.equal(nonces.size, 300)
})

t.test('the plaintext never appears in the cookie', async t => {
  const s = store()
  const secretValue = 'top-secret-plaintext'
  const value = s.seal(ID, record([['top-secret-key', JSON.stringify(secretValue)]]))
  const bytes = Buffer.from(value, 'base64url')
  for (const plain of [secretValue, 'top-secret-key', ID]) {
    t.notOk(value.includes(plain), `${plain} is not in the value`)
    t.notOk(bytes.includes(plain), `${plain} is not in the decoded bytes`)
    // every alignment of the plaintext inside a base64 stream
    for (let shift = 0; shift < 3; shift++) {
      const encoded = Buffer.from('x'.repeat(shift) + plain)
      // drop the characters that mix in the prefix or the unknown next byte
      const middle = (e: string): string => e.slice(Math.ceil(shift * 4 / 3) + 1, -4)
      t.notOk(value.includes(middle(encoded.toString('base64url'))), `base64url of ${plain} (shift ${shift}) is not in the value`)
      t.notOk(value.includes(middle(encoded.toString('base64'))), `base64 of ${plain} (shift ${shift}) is not in the value`)
    }
  }
})

t.test('tampering with any character of the value → null', async t => {
  const s = store()
  const value = sealed(s)
  let opened = 0
  for (let i = 0; i < value.length; i++) {
    for (const c of ALPHABET) {
      if (c === value[i]) continue
      if (s.open(value.slice(0, i) + c + value.slice(i + 1)) !== null) opened++
    }
  }
  t.equal(opened, 0, `none of ${value.length * 63} single-character changes opens`)
})

t.test('flipping any bit of the sealed bytes → null', async t => {
  const s = store()
  const bytes = Buffer.from(sealed(s), 'base64url')
  let opened = 0
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(bytes)
      copy[i] = (copy[i] as number) ^ (1 << bit)
      if (s.open(copy.toString('base64url')) !== null) opened++
    }
  }
  t.equal(opened, 0)
})

t.test('truncated or extended values → null', async t => {
  const s = store()
  const value = sealed(s)
  for (let length = 0; length < value.length; length++) {
    t.equal(s.open(value.slice(0, length)), null, `prefix of ${length}`)
    t.equal(s.open(value.slice(value.length - length)), null, `suffix of ${length}`)
  }
  for (const c of [...ALPHABET, '=', '==', '.', ' ', ';', '\n', 'AAAA']) {
    t.equal(s.open(value + c), null, `appended ${JSON.stringify(c)}`)
  }
  const bytes = Buffer.from(value, 'base64url')
  t.equal(s.open(Buffer.concat([bytes, Buffer.from([0])]).toString('base64url')), null, 'a byte appended')
  t.equal(s.open(bytes.subarray(0, -1).toString('base64url')), null, 'a byte removed')
})

t.test('the same bytes in another encoding → null (one accepted spelling per cookie)', async t => {
  const s = store()
  // find a value whose standard base64 spelling differs (has + or / and/or padding)
  const value = sealedWhere(s, 2, v => /[-_]/.test(v))
  const bytes = Buffer.from(value, 'base64url')
  t.equal(s.open(bytes.toString('base64')), null, 'standard base64 with padding')
  t.equal(s.open(bytes.toString('base64').replace(/=+$/, '')), null, 'standard base64 without padding')
  t.equal(s.open(value + '='.repeat(4 - value.length % 4)), null, 'base64url with padding')
  t.equal(s.open(encodeURIComponent(bytes.toString('base64'))), null, 'URL-encoded base64')
  t.equal(s.open(value.slice(0, 10) + ' ' + value.slice(10)), null, 'whitespace inside')
  t.equal(s.open(value.slice(0, 10) + '\n' + value.slice(10)), null, 'newline inside')
  t.equal(s.open(` ${value}`), null, 'leading space')
})

t.test('non-canonical trailing bits → null, whatever the last character', async t => {
  const s = store()
  // length % 4 === 2: the last character carries 2 data bits; === 3: 4 data bits
  for (const length of [42, 43]) {
    for (const last of ['B', 'b', 'Z', 'z', '1', '9', '-', '_', 'F', 'H']) {
      t.equal(s.open('A'.repeat(length - 1) + last), null, `${length} characters ending in ${last}`)
    }
  }
  t.equal(s.open('A'.repeat(41)), null, 'length % 4 === 1 is never base64')
  // canonical spellings of the right shape that no key sealed
  t.equal(s.open('A'.repeat(42)), null)
  t.equal(s.open('A'.repeat(43)), null)
  t.equal(s.open('A'.repeat(44)), null)
  // every canonical last character of a real value is accepted only for the real value
  const value = sealedWhere(s, 2)
  const accepted = [...ALPHABET].filter(c => s.open(value.slice(0, -1) + c) !== null)
  t.same(accepted, [value.at(-1)])
})

t.test('empty, garbage, huge and foreign values → null, never a throw', async t => {
  const s = store()
  const junk = [
    '',
    'garbage',
    'not a cookie',
    '%%%%',
    'a.b.c',
    '🍪🍪🍪',
    '\u0000\u0000',
    `${ID}.signature`,
    randomBytes(64).toString('base64url'),
    randomBytes(10 * 1024).toString('base64url'),
    'A'.repeat(10 * 1024),
    'x'.repeat(10 * 1024 * 1024)
  ]
  for (const value of junk) {
    t.doesNotThrow(() => s.open(value))
    t.equal(s.open(value), null, `${value.slice(0, 20)}… (${value.length} chars)`)
  }
  t.equal(s.open(undefined as unknown as string), null, 'not a string')
  t.equal(s.open(42 as unknown as string), null, 'not a string')

  const foreign = store([FOREIGN])
  t.equal(s.open(sealed(foreign)), null, 'sealed under a secret we do not hold')
  t.equal(foreign.open(sealed(s)), null, 'and the other way round')
})

t.test('a large junk value reaches the cipher when maxSize allows it, and still fails', async t => {
  let decryptions = 0
  const { CookieStore: Counted } = await t.mockImport<typeof import('../lib/stores/CookieStore.ts')>('../lib/stores/CookieStore.ts', {
    'sodium-native': {
      default: {
        ...sodium,
        crypto_aead_xchacha20poly1305_ietf_decrypt: (...args: Parameters<typeof sodium.crypto_aead_xchacha20poly1305_ietf_decrypt>) => {
          decryptions++
          return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(...args)
        }
      }
    }
  })
  const s = new Counted({ maxSize: 64 * 1024 })
  s.useSecrets([SECRET, OLD])
  // Random bytes behind the current version byte: only the cipher can tell them from a sealed session.
  const junk = randomBytes(30 * 1024)
  junk[0] = 2
  t.equal(s.open(junk.toString('base64url')), null)
  t.equal(decryptions, 2, 'the value was decrypted under each secret, and failed authentication')
})

t.test('a value longer than maxSize is refused before any decryption', async t => {
  const big = store([SECRET], { maxSize: 16 * 1024 })
  const small = store([SECRET], { maxSize: 4096 })
  const value = big.seal(ID, record([['blob', JSON.stringify('x'.repeat(6000))]]))
  t.ok(value.length > 4096)
  t.equal(store([SECRET], { maxSize: 16 * 1024 }).open(value)?.id, ID)
  t.equal(small.open(value), null)
  t.equal(small.open(small.seal(ID, record([['blob', JSON.stringify('x'.repeat(6000))]]))), null,
    'not even by the store that sealed it')
})

t.test('an unknown format version → null', async t => {
  const s = store()
  const bytes = Buffer.from(sealed(s), 'base64url')
  for (const version of [0, 1, 3, 255]) {
    bytes[0] = version
    t.equal(s.open(bytes.toString('base64url')), null, `version byte ${version}`)
  }
  // even with a tag that is valid for that version byte
  t.equal(s.open(sealRaw(SECRET, JSON.stringify([ID, 1, 2, null]), 3)), null)
  t.equal(s.open(sealRawV2(SECRET, JSON.stringify([ID, 1, 2, null, null, null, null]), { version: 3 })), null)
  t.equal(s.open(sealRaw(SECRET, JSON.stringify([ID, 1, 2, null]), 2)), null, 'format 1 sealing under the version byte of format 2')
})

t.test('an authenticated payload that is not a session → null (format 2)', async t => {
  const s = store()
  t.equal(s.open(sealRawV2(SECRET, JSON.stringify([ID, 1, Date.now(), null, null, null, null])))?.id, ID, 'the fixture seals like the store')
  const payloads = [
    'not json',
    '[]',
    `["${ID}",1,2,null,null,null]`,
    `["${ID}",1,2,null,null,null,null,"odd"]`,
    `[1,1,2,null,null,null,null]`,
    `["${ID}",1,2,null,"60",null,null]`,
    `["${ID}",1,2,null,null,7,null]`,
    `["${ID}",1,2,null,null,null,"device"]`,
    `["${ID}",1,2,null,null,null,[]]`,
    `["${ID}",1,2,null,null,null,{"ip":1}]`,
    `["${ID}",1,2,null,null,null,{"other":"x"}]`,
    `["${ID}",1,2,null,null,null,null,"k",1]`
  ]
  for (const payload of payloads) {
    t.equal(s.open(sealRawV2(SECRET, payload)), null, payload)
  }
})

t.test('an authenticated payload that is not a session → null (format 1)', async t => {
  const s = store()
  t.equal(s.open(sealRaw(SECRET, JSON.stringify([ID, 1, 2, null])))?.id, ID, 'the fixture seals like the store')
  const payloads = [
    'not json',
    '',
    '{"id":"x"}',
    '"string"',
    'null',
    '[]',
    `["${ID}",1,2]`,
    `["${ID}",1,2,null,"odd"]`,
    '[1,1,2,null]',
    `["${ID}","1",2,null]`,
    `["${ID}",1,"2",null]`,
    `["${ID}",1,2,"3"]`,
    `["${ID}",1,2,{}]`,
    `["${ID}",1,2,null,1,"v"]`,
    `["${ID}",1,2,null,"k",1]`,
    `["${ID}",1,2,null,"k","v","k2",null]`
  ]
  for (const payload of payloads) {
    t.equal(s.open(sealRaw(SECRET, payload)), null, payload)
  }
  t.equal(s.open(sealRaw(SECRET, Buffer.from([0xff, 0xfe, 0x5b]))), null, 'invalid UTF-8')
})

t.test('rotation: the first secret seals, every secret opens', async t => {
  const old = store([OLD])
  const rotated = store([SECRET, OLD])
  const fresh = store([SECRET])

  const oldValue = sealed(old)
  const openedOld = rotated.open(oldValue)
  t.equal(openedOld?.id, ID, 'an old cookie opens with [new, old]')
  t.equal(openedOld?.stale, true, '… and is reported stale')
  t.equal(fresh.open(oldValue), null, 'an old cookie does not open with [new] alone')

  const newValue = sealed(rotated)
  t.equal(rotated.open(newValue)?.stale, false, 'sealed with the first secret: not stale')
  t.equal(fresh.open(newValue)?.stale, false, 'the rotated store seals with the new secret')
  t.equal(old.open(newValue), null, 'and not with the old one')

  // the plugin re-seals a stale session with the first key
  const resealed = rotated.seal(openedOld?.id ?? '', openedOld?.record ?? record())
  t.same(fresh.open(resealed), { ...openedOld, stale: false })

  const three = store([SECRET, FOREIGN, OLD])
  t.equal(three.open(oldValue)?.stale, true, 'found past a non-matching middle key')
})

t.test('maxSize', async t => {
  t.equal(new CookieStore().maxSize, 4096, 'default 4096')
  t.equal(new CookieStore({}).maxSize, 4096)
  t.equal(new CookieStore({ maxSize: undefined }).maxSize, 4096)
  t.equal(new CookieStore({ maxSize: 8192 }).maxSize, 8192)
  t.equal(new CookieStore({ maxSize: 256 }).maxSize, 256, 'smallest accepted')
  for (const maxSize of [0, -1, 255, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '4096', 2 ** 53]) {
    t.throws(() => new CookieStore({ maxSize: maxSize as number }), {
      code: 'FST_SESSION_INVALID_OPTION',
      message: /maxSize/
    }, String(maxSize))
  }
})

t.test('seal or open before useSecrets is a programming error', async t => {
  const s = new CookieStore()
  t.throws(() => s.seal(ID, record()), { message: /useSecrets\(\)/ })
  t.throws(() => s.open('anything'), { message: /useSecrets\(\)/ })
})

t.test('useSecrets checks the list and binds the store to it', async t => {
  for (const secrets of [[], ['short'], [SECRET, 'short'], [SECRET, 42], 'a-single-string-of-more-than-32-chars', null]) {
    t.throws(() => new CookieStore().useSecrets(secrets as string[]), { code: 'FST_SESSION_INVALID_OPTION', message: /secret/ })
  }
  const s = store([SECRET, OLD])
  t.doesNotThrow(() => { s.useSecrets([SECRET, OLD]) }, 'the same list again is fine (one store, several registrations)')
  for (const other of [[SECRET], [OLD, SECRET], [SECRET, FOREIGN], [SECRET, OLD, FOREIGN]]) {
    t.throws(() => { s.useSecrets(other) }, { code: 'FST_SESSION_INVALID_OPTION', message: /already used with another `secret` list/ })
  }
  t.equal(s.open(sealed(store([OLD])))?.stale, true, 'the original keys are kept')
  const error = t.throws(() => { s.useSecrets([FOREIGN]) }) as Error
  t.notOk(error.message.includes(FOREIGN) || error.message.includes(SECRET), 'secrets never appear in messages')
  const copied = [SECRET]
  const bound = store(copied)
  copied[0] = FOREIGN
  t.doesNotThrow(() => { bound.useSecrets([SECRET]) }, 'the store keeps its own copy of the list')
})

t.test('cookieSize counts UTF-8 bytes of name=value', async t => {
  t.equal(cookieSize('session', 'abc'), 11)
  t.equal(cookieSize('s', ''), 2)
  t.equal(cookieSize('é', '日本'), 2 + 1 + 6)
  const value = sealed()
  t.equal(cookieSize('session', value), 'session='.length + value.length)
})

t.test('remembered opens: each caller gets its own copy of the data', async t => {
  const s = store()
  const input = record([['a', '1']])
  const value = s.seal(ID, input)
  input.data.set('a', 'changed after seal')
  input.data.set('b', '2')
  const first = s.open(value)
  t.same([...first?.record.data ?? []], [['a', '1']], 'changing the sealed record afterwards changes nothing')
  first?.record.data.set('a', 'changed by a request')
  first?.record.data.delete('a')
  t.same([...s.open(value)?.record.data ?? []], [['a', '1']], 'nor does changing what open returned')
  t.not(s.open(value)?.record, s.open(value)?.record)

  const rotated = store([SECRET, OLD])
  const old = sealed(store([OLD]))
  t.equal(rotated.open(old)?.stale, true)
  t.equal(rotated.open(old)?.stale, true, 'stale is remembered too')
})

t.test('remembered opens skip decryption; the memory they take is bounded', async t => {
  let decryptions = 0
  const { CookieStore: Counted } = await t.mockImport<typeof import('../lib/stores/CookieStore.ts')>('../lib/stores/CookieStore.ts', {
    'sodium-native': {
      default: {
        ...sodium,
        crypto_aead_xchacha20poly1305_ietf_decrypt: (...args: Parameters<typeof sodium.crypto_aead_xchacha20poly1305_ietf_decrypt>) => {
          decryptions++
          return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(...args)
        }
      }
    }
  })
  const counted = (): InstanceType<typeof Counted> => {
    const s = new Counted()
    s.useSecrets([SECRET])
    return s
  }
  const sealer = counted()
  const reader = counted()
  const value = sealer.seal(ID, record())
  t.equal(decryptions, 0)
  t.equal(sealer.open(value)?.id, ID)
  t.equal(decryptions, 1, 'a sealed value is not remembered until it comes back: the store that sealed it decrypts it once')
  t.equal(sealer.open(value)?.id, ID)
  t.equal(decryptions, 1, '… and then remembers it')
  t.equal(reader.open(value)?.id, ID)
  t.equal(decryptions, 2, 'another store decrypts it once')
  t.equal(reader.open(value)?.id, ID)
  t.equal(decryptions, 2, '… and then remembers it too')
  t.equal(reader.open(value.slice(0, -2) + 'AA'), null)
  t.equal(reader.open(value.slice(0, -2) + 'AA'), null)
  t.equal(decryptions, 4, 'refused values are never remembered')

  // about 4 KB each: 400 of them are more than the 1 MiB of values a store remembers
  const big = record([['blob', JSON.stringify('x'.repeat(2900))]])
  const values = Array.from({ length: 400 }, () => sealer.seal(ID, big))
  for (const value of values) t.equal(reader.open(value)?.id, ID)
  decryptions = 0
  t.equal(reader.open(values[399] as string)?.id, ID)
  t.equal(decryptions, 0, 'the newest is remembered')
  t.same(reader.open(values[0] as string)?.record, big, 'the oldest was forgotten and still opens')
  t.equal(decryptions, 1)
})

t.test('forgetting the oldest remembered values keeps every value openable', async t => {
  const s = store()
  const big = record([['blob', JSON.stringify('y'.repeat(2900))]])
  const values = Array.from({ length: 400 }, () => s.seal(ID, big))
  for (const value of values) t.same(s.open(value)?.record, big, 'opened once: remembered, the oldest forgotten')
  for (const value of [values[0], values[200], values[399]]) t.same(s.open(value as string)?.record, big, 'and opened again')
})
