import { parseCookie } from 'cookie'
import fc from 'fast-check'
import t from 'tap'
import { pairValue } from '../lib/RequestSession.ts'
import { assertProperty, runs } from './fixtures/property.ts'

// The session cookie is read without parsing every cookie of the header when its name occurs once; what it reads
// must be what `cookie`'s parse (the oracle, the module @fastify/cookie wraps) gives for that name.

const NAME = '__Host-session'

/** Header pieces that make the parse interesting: separators, blanks, percent escapes, the name in other places. */
const piece = fc.oneof(
  fc.constantFrom(NAME, '=', ';', ' ', '\t', '; ', '%', '%41', '%E0%A4', '"', 'a', 'xx', 'v=1', '__Host-', 'session'),
  fc.string({ maxLength: 6 })
)

t.test('pairValue: the value parseCookie gives for a name that occurs once', async (t) => {
  await assertProperty(t, fc.asyncProperty(fc.array(piece, { maxLength: 12 }), async (pieces) => {
    const header = pieces.join('')
    const at = header.indexOf(NAME)
    fc.pre(at !== -1 && header.indexOf(NAME, at + 1) === -1)
    const expected = parseCookie(header)[NAME]
    const actual = pairValue(header, NAME, at)
    if (actual !== expected) throw new Error(`${JSON.stringify(header)}: ${JSON.stringify(actual)} ≠ ${JSON.stringify(expected)}`)
  }), runs(3000))
})

t.test('pairValue: the cases by name', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    [`${NAME}=abc`, 'abc'],
    [`a=1; ${NAME}=abc; b=2`, 'abc'],
    [` \t${NAME} \t= \tabc \t;b=2`, 'abc'],
    [`x${NAME}=abc`, undefined],
    [`${NAME}x=abc`, undefined],
    [`a=${NAME}`, undefined],
    [`${NAME}`, undefined],
    [`${NAME}; a=1`, undefined],
    [`foo; ${NAME}=abc`, 'abc'],
    [`${NAME}=a%41c`, 'aAc'],
    [`${NAME}=a%E0%A4c`, 'a%E0%A4c'],
    [`${NAME}=`, ''],
    [`a=b=${NAME}; c=d`, undefined]
  ]
  for (const [header, expected] of cases) {
    t.equal(pairValue(header, NAME, header.indexOf(NAME)), expected, JSON.stringify(header))
    t.equal(parseCookie(header)[NAME], expected, `the oracle agrees: ${JSON.stringify(header)}`)
  }
})
