// @fastify/cookie beside this plugin, registered before or after it: both cookies in one response, the app's own
// cookies parsed as usual, and the session found in request.cookies.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import session from '../lib/index.ts'
import { CookieJar, SECRET, request, storeCases, type Store } from './fixtures/ecosystem.ts'

async function buildApp (store: Store, cookieFirst: boolean): Promise<FastifyInstance> {
  const app = Fastify()
  if (cookieFirst) await app.register(cookie, { secret: 'a-cookie-signing-secret-for-the-app-own-cookies' })
  await app.register(session, { secret: SECRET, store, autoload: true })
  if (!cookieFirst) await app.register(cookie, { secret: 'a-cookie-signing-secret-for-the-app-own-cookies' })
  app.post('/prefs', async (request, reply) => {
    reply.setCookie('theme', 'dark', { path: '/', signed: true })
    request.session.set('cart', ['book'])
    return { ok: true }
  })
  app.get('/prefs', async (request) => ({
    theme: request.unsignCookie(request.cookies.theme ?? '').value,
    cart: request.session.get('cart') ?? null
  }))
  await app.ready()
  return app
}

const stores = await storeCases(t)
for (const store of stores) {
  for (const cookieFirst of [true, false]) {
    t.test(`${store.name}, @fastify/cookie registered ${cookieFirst ? 'before' : 'after'} the plugin`, async (t) => {
      const app = await buildApp(store.create(), cookieFirst)
      t.teardown(() => app.close())
      const jar = new CookieJar()
      const set = await request(app, jar, { method: 'POST', url: '/prefs' })
      t.equal(set.statusCode, 200)
      const names = ([] as string[]).concat(set.headers['set-cookie'] ?? []).map((line) => line.split('=', 1)[0])
      t.same(names.sort(), ['__Host-session', 'theme'], "one response sets the app's cookie and the session cookie")
      t.same((await request(app, jar, { url: '/prefs' })).json(), { theme: 'dark', cart: ['book'] }, 'both come back')
    })
  }
}

t.test("@fastify/cookie registered before the plugin with its own parse options: the session cookie is read with them", async (t) => {
  // hook: false leaves request.cookies unset, so the plugin parses the header itself, with the app's parser.
  const decoded: string[] = []
  const app = Fastify()
  const decode = (value: string): string => { decoded.push(value); return decodeURIComponent(value) }
  // @fastify/cookie hands parseOptions to cookie.parse (which reads `decode`), though its types name the serialize options.
  await app.register(cookie, { hook: false, parseOptions: { decode } as Record<string, unknown> })
  await app.register(session, { secret: SECRET })
  app.post('/', async (request) => { (await request.loadSession()).set('n', 1); return 'ok' })
  app.get('/', async (request) => ({ n: (await request.loadSession()).get('n') ?? null }))
  await app.ready()
  t.teardown(() => app.close())
  const jar = new CookieJar()
  await request(app, jar, { method: 'POST', url: '/' })
  decoded.length = 0
  t.same((await request(app, jar, { url: '/' })).json(), { n: 1 })
  t.ok(decoded.length > 0, "the app's decode option was used")
})
