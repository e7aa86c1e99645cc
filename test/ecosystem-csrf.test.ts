// @fastify/csrf-protection on this plugin in both session modes it offers: '@fastify/session' (property access,
// `request.session._csrf = secret`) and '@fastify/secure-session' (`get`/`set`/`options()`), hooked in
// `onRequest` as its README recommends (header tokens) and in `preValidation` (body tokens), on every store.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import csrf from '@fastify/csrf-protection'
import formbody from '@fastify/formbody'
import session from '../lib/index.ts'
import { CookieJar, SECRET, request, storeCases, type Store } from './fixtures/ecosystem.ts'

type Mode = '@fastify/session' | '@fastify/secure-session'
const MODES: Mode[] = ['@fastify/session', '@fastify/secure-session']

async function buildApp (store: Store, sessionPlugin: Mode, userInfo = false): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(formbody)
  await app.register(session, { secret: SECRET, store, autoload: true })
  await app.register(csrf, userInfo
    ? { sessionPlugin, getUserInfo: (request) => String(request.session.get('user')) }
    : { sessionPlugin })
  app.get('/token', async (request, reply) => {
    const user = request.session.get('user')
    return { token: userInfo ? reply.generateCsrf({ userInfo: String(user) }) : reply.generateCsrf() }
  })
  app.post('/user', async (request) => {
    request.session.set('user', (request.body as { user: string }).user)
    return { ok: true }
  })
  // The README's "protect the fastify instance": every route of this scope checks the header token in onRequest.
  await app.register(async (scope) => {
    scope.addHook('onRequest', app.csrfProtection)
    scope.post('/header', async () => ({ ok: true }))
  })
  // A token sent in the body can only be read once the body is parsed: preValidation (the README says so too).
  app.post('/body', { preValidation: app.csrfProtection }, async () => ({ ok: true }))
  await app.ready()
  return app
}

const form = (fields: Record<string, string>): { payload: string, headers: Record<string, string> } => ({
  payload: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' }
})

const stores = await storeCases(t)
for (const store of stores) {
  for (const mode of MODES) {
    t.test(`${store.name}, sessionPlugin '${mode}': tokens from the session`, async (t) => {
      const app = await buildApp(store.create(), mode)
      t.teardown(() => app.close())
      const jar = new CookieJar()

      const issued = await request(app, jar, { url: '/token' })
      t.equal(issued.statusCode, 200, 'GET → a token')
      const { token } = issued.json() as { token: string }
      t.type(token, 'string')
      t.ok(jar.header(), 'the CSRF secret was stored in a new session (cookie set)')

      const again = await request(app, jar, { url: '/token' })
      t.equal(again.statusCode, 200)
      t.equal(again.headers['set-cookie'], undefined, 'the secret stays: the next token needs no save')

      const header = await request(app, jar, { method: 'POST', url: '/header', headers: { 'csrf-token': token } })
      t.equal(header.statusCode, 200, 'POST with the token in a header (onRequest hook) → 200')
      t.same(header.json(), { ok: true })
      const body = await request(app, jar, { method: 'POST', url: '/body', ...form({ _csrf: token, text: 'hi' }) })
      t.equal(body.statusCode, 200, 'POST with the token in the form body (preValidation hook) → 200')

      const wrongHeader = await request(app, jar, { method: 'POST', url: '/header', headers: { 'csrf-token': token.slice(0, -2) + 'xx' } })
      t.equal(wrongHeader.statusCode, 403, 'wrong token in the header → 403')
      t.equal(wrongHeader.json().code, 'FST_CSRF_INVALID_TOKEN')
      const wrongBody = await request(app, jar, { method: 'POST', url: '/body', ...form({ _csrf: 'not-a-token' }) })
      t.equal(wrongBody.statusCode, 403, 'wrong token in the body → 403')
      const missing = await request(app, jar, { method: 'POST', url: '/header' })
      t.equal(missing.statusCode, 403, 'no token → 403')

      const stranger = new CookieJar()
      const noSession = await request(app, stranger, { method: 'POST', url: '/header', headers: { 'csrf-token': token } })
      t.equal(noSession.statusCode, 403, 'a valid token without the session it belongs to → 403')
      t.equal(noSession.json().code, 'FST_CSRF_MISSING_SECRET')
      const otherSession = new CookieJar()
      await request(app, otherSession, { url: '/token' })
      const crossed = await request(app, otherSession, { method: 'POST', url: '/body', ...form({ _csrf: token }) })
      t.equal(crossed.statusCode, 403, "another session's token → 403")
    })

    t.test(`${store.name}, sessionPlugin '${mode}': reply.generateCsrf({ userInfo }) binds the token to the user`, async (t) => {
      const app = await buildApp(store.create(), mode, true)
      t.teardown(() => app.close())
      const jar = new CookieJar()
      t.equal((await request(app, jar, { method: 'POST', url: '/user', ...form({ user: 'ada' }) })).statusCode, 200)

      const issued = await request(app, jar, { url: '/token' })
      t.equal(issued.statusCode, 200, 'generateCsrf({ userInfo }) answers (secure-session mode calls session.options())')
      const { token } = issued.json() as { token: string }
      t.equal((await request(app, jar, { method: 'POST', url: '/header', headers: { 'csrf-token': token } })).statusCode, 200,
        'the token verifies for the user it was made for')

      await request(app, jar, { method: 'POST', url: '/user', ...form({ user: 'grace' }) })
      t.equal((await request(app, jar, { method: 'POST', url: '/header', headers: { 'csrf-token': token } })).statusCode, 403,
        'the same token no longer verifies once the session belongs to another user')
    })
  }
}
