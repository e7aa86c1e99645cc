import { stringifySetCookie } from 'cookie'
import t from 'tap'
import { normalizeOptions } from '../lib/options.ts'
import { SetCookieWriter } from '../lib/RequestSession.ts'
import { SECRET } from './fixtures/app.ts'

// The session cookie's Set-Cookie is put together from pieces worked out at registration; it must be byte for
// byte what the `cookie` module (the one @fastify/cookie uses) writes for the same attributes.

const cookies = [
  {},
  { secure: false },
  { name: 'sid', path: '/app', domain: 'example.com', sameSite: 'strict' as const },
  { sameSite: 'none' as const, partitioned: true },
  { httpOnly: false, secure: false, path: '/a/b' }
]

t.test('live and deletion cookies are what cookie.stringifySetCookie writes', async (t) => {
  for (const options of cookies) {
    const { cookie } = normalizeOptions({ secret: SECRET, cookie: options })
    const writer = new SetCookieWriter(cookie)
    const attributes = { name: cookie.name, path: cookie.path, domain: cookie.domain, sameSite: cookie.sameSite, secure: cookie.secure, httpOnly: cookie.httpOnly, partitioned: cookie.partitioned }
    const value = 'abcXYZ019-_.sig'
    for (const maxAge of [undefined, 0, 1, 1209600]) {
      t.equal(writer.live(value, maxAge), stringifySetCookie({ ...attributes, value, maxAge }), `${JSON.stringify(options)}, Max-Age ${String(maxAge)}`)
    }
    t.equal(writer.deletion, stringifySetCookie({ ...attributes, value: '', maxAge: 0, expires: new Date(0) }), `${JSON.stringify(options)}: deletion`)
  }
})
