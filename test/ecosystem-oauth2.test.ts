// @fastify/passport + passport-oauth2 against a real OAuth 2.0 server (oauth2-mock-server) over real HTTP: the app
// listens on a port and the test follows the redirects like a browser (fetch, manual redirects, a cookie jar).
// passport-oauth2 keeps its `state` in the session by property access (`req.session[key].state = state`).
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Authenticator } from '@fastify/passport'
import { Strategy as OAuth2Strategy } from 'passport-oauth2'
import { OAuth2Server } from 'oauth2-mock-server'
import session from '../lib/index.ts'
import { CookieJar, SECRET, storeCases, type Store } from './fixtures/ecosystem.ts'

declare module 'fastify' {
  interface PassportUser { id: string }
}

const provider = new OAuth2Server()
await provider.issuer.keys.generate('RS256')
await provider.start(0, '127.0.0.1')
t.teardown(() => provider.stop())
const issuer = provider.issuer.url as string
/** passport-oauth2's default session key: `oauth2:` + the authorization server's host name. */
const STATE_KEY = `oauth2:${new URL(issuer).hostname}`

async function buildApp (store: Store): Promise<{ app: FastifyInstance, url: string }> {
  const passport = new Authenticator()
  passport.registerUserSerializer(async (user: { id: string }) => user.id)
  passport.registerUserDeserializer(async (id: string) => ({ id }))

  const app = Fastify()
  await app.register(session, { secret: SECRET, store, autoload: true })
  await app.register(passport.initialize())
  await app.register(passport.secureSession())
  app.get('/login', { preValidation: passport.authenticate('provider') }, async () => 'redirecting')
  app.get('/callback', { preValidation: passport.authenticate('provider', { authInfo: false }) }, async (request) => ({ user: request.user?.id }))
  app.get('/me', async (request) => ({ user: request.user?.id ?? null, data: request.session.data() }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })

  passport.use('provider', new OAuth2Strategy({
    authorizationURL: `${issuer}/authorize`,
    tokenURL: `${issuer}/token`,
    clientID: 'the-app',
    clientSecret: 'the-app-secret',
    callbackURL: `${url}/callback`,
    state: true
  }, (accessToken: string, _refreshToken: string, _profile: object, done: (error: Error | null, user?: { id: string }) => void) => {
    // The user is whoever the provider's userinfo endpoint says the access token belongs to.
    fetch(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })
      .then(async (response) => { done(null, { id: ((await response.json()) as { sub: string }).sub }) }, done)
  }))
  return { app, url }
}

/** One request the way a browser makes it: the jar's cookies for the app, none for the provider; no redirect followed. */
async function get (jar: CookieJar, url: string, appUrl: string): Promise<Response> {
  const cookie = url.startsWith(appUrl) ? jar.header() : undefined
  const response = await fetch(url, { redirect: 'manual', headers: cookie === undefined ? {} : { cookie } })
  if (url.startsWith(appUrl)) jar.update(response.headers.getSetCookie())
  return response
}

/** GET /login, then the provider's /authorize: resolves with the callback URL the provider sends the browser to. */
async function authorize (jar: CookieJar, appUrl: string): Promise<URL> {
  const login = await get(jar, `${appUrl}/login`, appUrl)
  if (login.status !== 302) throw new Error(`GET /login answered ${login.status}: ${await login.text()}`)
  const authorizeUrl = login.headers.get('location') as string
  const approved = await get(jar, authorizeUrl, appUrl)
  if (approved.status !== 302) throw new Error(`the provider answered ${approved.status}: ${await approved.text()}`)
  return new URL(approved.headers.get('location') as string)
}

const stores = await storeCases(t)
for (const store of stores) {
  t.test(`${store.name}: the authorization-code flow signs the user in; a wrong or replayed state is refused`, async (t) => {
    const { app, url } = await buildApp(store.create())
    t.teardown(() => app.close())
    const jar = new CookieJar()

    const login = await get(jar, `${url}/login`, url)
    t.equal(login.status, 302, 'GET /login redirects to the provider')
    const authorizeUrl = new URL(login.headers.get('location') as string)
    t.equal(authorizeUrl.origin + authorizeUrl.pathname, `${issuer}/authorize`)
    const state = authorizeUrl.searchParams.get('state')
    t.ok(state, 'with a state')
    t.ok(jar.header(), 'and a session cookie')
    const pending = await (await get(jar, `${url}/me`, url)).json() as { user: string | null, data: Record<string, unknown> }
    t.same(pending, { user: null, data: { [STATE_KEY]: { state } } }, 'the state is kept in the session (a nested value set by property access)')

    const approved = await get(jar, authorizeUrl.href, url)
    t.equal(approved.status, 302, 'the provider sends the browser back')
    const callback = new URL(approved.headers.get('location') as string)
    t.equal(callback.origin + callback.pathname, `${url}/callback`)
    t.equal(callback.searchParams.get('state'), state)

    const signedIn = await get(jar, callback.href, url)
    t.equal(signedIn.status, 200, 'the callback exchanged the code for a token over HTTP')
    t.same(await signedIn.json(), { user: 'johndoe' })
    const me = await (await get(jar, `${url}/me`, url)).json() as { user: string | null, data: Record<string, unknown> }
    t.same(me, { user: 'johndoe', data: { passport: 'johndoe' } }, 'signed in; the state was used up')

    const replayed = await get(jar, callback.href, url)
    t.equal(replayed.status, 403, 'the same callback (same code and state) again → 403')
    t.equal((await (await get(jar, `${url}/me`, url)).json() as { user: string | null }).user, 'johndoe',
      'a refused replay does not sign the user out')

    const other = new CookieJar()
    const otherCallback = await authorize(other, url)
    otherCallback.searchParams.set('state', 'a-state-this-browser-was-never-given')
    const wrong = await get(other, otherCallback.href, url)
    t.equal(wrong.status, 403, 'a wrong state → 403')
    t.equal((await (await get(other, `${url}/me`, url)).json() as { user: string | null }).user, null, 'and not signed in')

    const stranger = new CookieJar()
    const foreign = await get(stranger, (await authorize(new CookieJar(), url)).href, url)
    t.equal(foreign.status, 403, "a callback with another browser's state (no state in this session) → 403")
  })
}
