import t from 'tap'
import Fastify from 'fastify'
import plugin, { CookieStore, MemoryStore } from '../lib/index.ts'
import { SECRET } from './fixtures/app.ts'

async function register (options: unknown): Promise<void> {
  const app = Fastify()
  try {
    await app.register(plugin, options as { secret: string })
    await app.ready()
  } finally {
    await app.close()
  }
}

const invalid: Array<[string, unknown, RegExp]> = [
  ['no options', undefined, /secret/],
  ['no secret', {}, /`secret` is required/],
  ['empty secret list', { secret: [] }, /`secret` is required/],
  ['short secret', { secret: 'short' }, /at least 32 characters/],
  ['one short secret in the list', { secret: [SECRET, 'short'] }, /at least 32 characters/],
  ['secret not a string', { secret: 12345 }, /secret/],
  ['store without methods', { secret: SECRET, store: {} }, /`store`/],
  ['negative lifetime', { secret: SECRET, lifetime: -1 }, /`lifetime`/],
  ['lifetime not a number', { secret: SECRET, lifetime: '60' }, /`lifetime`/],
  ['infinite idleTimeout', { secret: SECRET, idleTimeout: Infinity }, /`idleTimeout`/],
  ['NaN absoluteTimeout', { secret: SECRET, absoluteTimeout: NaN }, /`absoluteTimeout`/],
  ['rolling not a boolean', { secret: SECRET, rolling: 'yes' }, /`rolling`/],
  ['autoload a string', { secret: SECRET, autoload: '/admin' }, /`autoload`/],
  ['autoload entry without a leading slash', { secret: SECRET, autoload: ['admin'] }, /`autoload`/],
  ['cookie not an object', { secret: SECRET, cookie: 'session' }, /`cookie`/],
  ['cookie name with a space', { secret: SECRET, cookie: { name: 'my session' } }, /`cookie.name`/],
  ['cookie name with a semicolon', { secret: SECRET, cookie: { name: 'a;b' } }, /`cookie.name`/],
  ['empty cookie name', { secret: SECRET, cookie: { name: '' } }, /`cookie.name`/],
  ['cookie path without a slash', { secret: SECRET, cookie: { path: 'app' } }, /`cookie.path`/],
  ['cookie path with a semicolon', { secret: SECRET, cookie: { path: '/a;b' } }, /`cookie.path`/],
  ['cookie domain with a space', { secret: SECRET, cookie: { domain: 'exa mple.com' } }, /`cookie.domain`/],
  ['unknown sameSite', { secret: SECRET, cookie: { sameSite: 'relaxed' } }, /`cookie.sameSite`/],
  ['sameSite none without secure', { secret: SECRET, cookie: { sameSite: 'none', secure: false } }, /requires `cookie.secure: true`/],
  ['partitioned without secure', { secret: SECRET, cookie: { partitioned: true, secure: false } }, /`cookie.partitioned`/],
  ['httpOnly not a boolean', { secret: SECRET, cookie: { httpOnly: 1 } }, /`httpOnly`/],
  ['__Secure- without secure', { secret: SECRET, cookie: { name: '__Secure-s', secure: false } }, /__Secure-/],
  ['__Host- without secure', { secret: SECRET, cookie: { name: '__Host-s', secure: false } }, /__Host-/],
  ['__Host- with a path', { secret: SECRET, cookie: { name: '__Host-s', path: '/app' } }, /__Host-/],
  ['__Host- with a domain', { secret: SECRET, cookie: { name: '__Host-s', domain: 'example.com' } }, /__Host-/],
  ['serializer without deserialize', { secret: SECRET, serializer: { serialize: String } }, /`serializer`/],
  ['skipHeader without a value', { secret: SECRET, skipHeader: { name: 'x-skip' } }, /`skipHeader`/],
  ['skipHeader with a bad name', { secret: SECRET, skipHeader: [{ name: 'x skip', value: '*' }] }, /`skipHeader`/],
  ['unknown onStoreError', { secret: SECRET, onStoreError: 'ignore' }, /`onStoreError`/],
  ['userKey not a string', { secret: SECRET, userKey: 1 }, /`userKey`/],
  ['empty userKey', { secret: SECRET, userKey: '' }, /`userKey`/],
  ['maxSessionsPerUser not a whole number', { secret: SECRET, userKey: 'u', maxSessionsPerUser: 1.5 }, /`maxSessionsPerUser`/],
  ['negative maxSessionsPerUser', { secret: SECRET, userKey: 'u', maxSessionsPerUser: -1 }, /`maxSessionsPerUser`/],
  ['maxSessionsPerUser without userKey', { secret: SECRET, maxSessionsPerUser: 2 }, /needs `userKey`/],
  ['maxSessionsPerUser with a CookieStore', { secret: SECRET, userKey: 'u', maxSessionsPerUser: 2, store: new CookieStore() }, /list and revoke/],
  ['maxSessionsPerUser with a store without list/revoke', { secret: SECRET, userKey: 'u', maxSessionsPerUser: 2, store: { load: async () => null, save: async () => true, destroy: async () => true } }, /list and revoke/],
  ['device not a boolean or function', { secret: SECRET, device: 'yes' }, /`device`/]
]

for (const [name, options, message] of invalid) {
  t.test(`an invalid option fails register with FST_SESSION_INVALID_OPTION: ${name}`, async (t) => {
    await t.rejects(register(options), { code: 'FST_SESSION_INVALID_OPTION', message })
  })
}

t.test('the error for a bad secret never contains the secret', async (t) => {
  const secret = 'my-very-secret-value'
  const error = await register({ secret }).catch((error: Error) => error)
  t.notMatch(String((error as Error).message), secret)
})

t.test('valid options register: every option at once, __Host- cookie, secret list, RegExp autoload', async (t) => {
  await t.resolves(register({
    secret: [SECRET, SECRET + '-old'],
    store: new MemoryStore(),
    lifetime: 3600,
    rolling: true,
    idleTimeout: 600,
    absoluteTimeout: 86400,
    autoload: ['/admin', /^\/app\//g],
    cookie: { name: '__Host-sid', path: '/', sameSite: 'none', secure: true, httpOnly: true, partitioned: true },
    serializer: { serialize: JSON.stringify, deserialize: JSON.parse },
    skipHeader: [{ name: 'X-Health', value: '*' }, { name: 'x-api', value: 'yes' }],
    onStoreError: 'fresh',
    userKey: 'userId',
    maxSessionsPerUser: 3,
    device: (request: { ip: string }) => ({ ip: request.ip, label: 'web' })
  }))
  await t.resolves(register({ secret: SECRET, userKey: 'userId', maxSessionsPerUser: 0, device: false }))
  await t.resolves(register({ secret: SECRET, store: new CookieStore(), cookie: { domain: '.example.com', sameSite: 'strict' } }))
})

t.test('a route whose config.session.autoload is not a boolean fails to register', async (t) => {
  const app = Fastify()
  await app.register(plugin, { secret: SECRET })
  t.throws(() => app.get('/', { config: { session: { autoload: 'yes' as unknown as boolean } } }, async () => 'x'), { code: 'FST_SESSION_INVALID_OPTION', message: /GET \// })
  await app.close()
})
