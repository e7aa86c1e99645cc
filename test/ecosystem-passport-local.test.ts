// @fastify/passport with passport-local on this plugin, as its README sets it up (initialize + secureSession),
// with the plugin's `autoload: true` and with per-route autoload, on every store.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import formbody from '@fastify/formbody'
import { Authenticator } from '@fastify/passport'
import { Strategy as LocalStrategy } from 'passport-local'
import session from '../lib/index.ts'
import { CookieJar, SECRET, request, storeCases, type Store } from './fixtures/ecosystem.ts'

declare module 'fastify' {
  interface PassportUser { id: string, name: string }
}

const USERS = new Map([['ada', { id: 'ada', name: 'Ada Lovelace', password: 'lovelace' }]])

async function buildApp (store: Store, autoload: 'plugin' | 'route'): Promise<FastifyInstance> {
  // `theme` is kept across sign-in like passport's own fields; everything else from before sign-in is dropped.
  const passport = new Authenticator({ clearSessionIgnoreFields: ['theme'] })
  passport.use('local', new LocalStrategy((username, password, done) => {
    const user = USERS.get(username)
    done(null, user !== undefined && user.password === password ? { id: user.id, name: user.name } : false)
  }))
  passport.registerUserSerializer(async (user: { id: string }) => user.id)
  passport.registerUserDeserializer(async (id: string) => {
    const user = USERS.get(id)
    return user === undefined ? null : { id: user.id, name: user.name }
  })

  const app = Fastify()
  await app.register(formbody)
  await app.register(session, { secret: SECRET, store, autoload: autoload === 'plugin' })
  await app.register(passport.initialize())
  const config: import('fastify').FastifyContextConfig = autoload === 'route' ? { session: { autoload: true } } : {}
  // passport's session strategy reads the session in preValidation: it goes in the scope of the routes that load it.
  await app.register(async (scope) => {
    await scope.register(passport.secureSession())
    const me = async (request: import('fastify').FastifyRequest): Promise<object> => ({
      user: request.user?.name ?? null,
      id: request.session.id,
      reason: request.session.reason,
      data: request.session.data()
    })
    scope.get('/me', { config }, me)
    scope.post('/cart', { config }, async (request) => {
      request.session.set('cart', ['book'])
      request.session.set('theme', 'dark')
      return me(request)
    })
    scope.post('/login', { config, preValidation: passport.authenticate('local', { authInfo: false }) }, me)
    scope.post('/logout', { config }, async (request) => {
      await request.logOut()
      return me(request)
    })
  })
  app.get('/public', async (request) => ({ loaded: request.sessionLoaded }))
  await app.ready()
  return app
}

interface Me { user: string | null, id: string | null, reason: string, data: Record<string, unknown> }

const stores = await storeCases(t)
for (const store of stores) {
  for (const autoload of ['plugin', 'route'] as const) {
    t.test(`${store.name}, ${autoload === 'plugin' ? 'autoload: true' : 'per-route autoload'}: sign in and out with passport-local`, async (t) => {
      const app = await buildApp(store.create(), autoload)
      t.teardown(() => app.close())
      const jar = new CookieJar()
      const me = async (from = jar): Promise<Me> => {
        const response = await request(app, from, { url: '/me' })
        t.equal(response.statusCode, 200, 'GET /me answers')
        return response.json()
      }

      const anonymous = await request(app, jar, { method: 'POST', url: '/cart' })
      t.equal(anonymous.statusCode, 200)
      t.equal(anonymous.json().user, null, 'not signed in yet')
      const before = await me()
      t.same(before.data, { cart: ['book'], theme: 'dark' }, 'the pre-login session is stored')
      t.ok(before.id, 'the pre-login session has an ID')
      const preLogin = jar.clone()

      const wrong = await request(app, jar, { method: 'POST', url: '/login', payload: { username: 'ada', password: 'wrong' } })
      t.equal(wrong.statusCode, 401, 'wrong password: 401')
      t.equal((await me()).user, null, 'still not signed in')

      const login = await request(app, jar, { method: 'POST', url: '/login', payload: { username: 'ada', password: 'lovelace' } })
      t.equal(login.statusCode, 200, 'right password: 200')
      t.equal(login.json().user, 'Ada Lovelace', 'request.user is set in the login request')
      t.ok(login.headers['set-cookie'], 'the login response sets a cookie')

      const after = await me()
      t.equal(after.user, 'Ada Lovelace', 'an authenticated GET sees request.user')
      t.not(after.id, before.id, 'sign-in gave the session a new ID')
      t.same(after.data, { passport: 'ada', theme: 'dark' }, 'pre-login data cleared except the kept fields')

      const old = await me(preLogin)
      t.equal(old.user, null, 'the pre-login cookie does not load the signed-in session')
      if (store.serverSide) {
        t.equal(old.reason, 'not-found', 'the pre-login ID was removed from the store')
        t.same(old.data, {})
      }
      const signedIn = jar.clone()

      const logout = await request(app, jar, { method: 'POST', url: '/logout' })
      t.equal(logout.statusCode, 200)
      t.equal(logout.json().user, null, 'signed out in the logout request')
      t.equal((await me()).user, null, 'the next request is not signed in')
      if (store.serverSide) {
        const replayed = await me(signedIn)
        t.equal(replayed.user, null, 'the signed-in cookie from before logout is not signed in any more')
        t.equal(replayed.reason, 'not-found')
      }

      const open = await app.inject({ url: '/public' })
      t.equal(open.statusCode, 200, 'a route outside the passport scope answers')
      t.same(open.json(), { loaded: autoload === 'plugin' })
    })
  }
}

for (const store of stores) {
  t.test(`${store.name}: passport's successRedirect/failureRedirect with flash messages`, async (t) => {
    // successFlash is set before sign-in, which keeps only passport's fields and these: keep the flash.
    const passport = new Authenticator({ clearSessionIgnoreFields: ['flash'] })
    passport.use('local', new LocalStrategy((username, password, done) => {
      done(null, username === 'ada' && password === 'lovelace' ? { id: 'ada', name: 'Ada Lovelace' } : false)
    }))
    passport.registerUserSerializer(async (user: { id: string }) => user.id)
    passport.registerUserDeserializer(async (id: string) => ({ id, name: 'Ada Lovelace' }))
    const messages: string[] = []
    const app = Fastify({ logger: { level: 'debug', stream: { write: (line: string) => { messages.push(JSON.parse(line).msg) } } } })
    await app.register(formbody)
    await app.register(session, { secret: SECRET, store: store.create(), autoload: true })
    await app.register(passport.initialize())
    await app.register(passport.secureSession())
    // passport sends these redirects from its preValidation hook without `return reply`: Fastify then runs the
    // handler too, while the first reply still waits for the session save. The first reply must be the one sent.
    app.post('/login', {
      preValidation: passport.authenticate('local', {
        successRedirect: '/welcome',
        successFlash: 'Welcome!',
        failureRedirect: '/login',
        failureFlash: 'Wrong name or password.'
      })
    }, async () => 'the handler ran')
    app.get('/flash', async (request, reply) => ({ user: request.user?.name ?? null, flash: reply.flash() }))
    await app.ready()
    t.teardown(() => app.close())
    const jar = new CookieJar()

    const wrong = await request(app, jar, { method: 'POST', url: '/login', payload: { username: 'ada', password: 'wrong' } })
    t.equal(wrong.statusCode, 302, 'failureRedirect')
    t.equal(wrong.headers.location, '/login')
    t.not(wrong.body, 'the handler ran', "the handler's reply is not the one sent")
    t.same((await request(app, jar, { url: '/flash' })).json(), { user: null, flash: { error: ['Wrong name or password.'] } })

    const right = await request(app, jar, { method: 'POST', url: '/login', payload: { username: 'ada', password: 'lovelace' } })
    t.equal(right.statusCode, 302, 'successRedirect')
    t.equal(right.headers.location, '/welcome')
    t.same((await request(app, jar, { url: '/flash' })).json(), { user: 'Ada Lovelace', flash: { success: ['Welcome!'] } },
      'signed in, and the success flash set before sign-in survived it')
    const dropped = messages.some((message) => /second reply was sent while the session was being saved/.test(message))
    if (store.name === 'RedisStore') t.ok(dropped, 'the dropped reply is logged (at debug level: every passport redirect does it)')
    // The embedded stores save synchronously: the first reply is out before the handler runs, nothing waits to be dropped.
    else t.notOk(dropped, 'the session was saved before the handler ran')
  })
}
