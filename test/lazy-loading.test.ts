import t from 'tap'
import { SessionNotLoadedError, type SessionStore } from '../lib/index.ts'
import { IdSigner } from '../lib/signing.ts'
import { build, recordingStore, sessionCookie, signedCookie } from './fixtures/app.ts'

t.test('request.session throws SessionNotLoadedError until loadSession() resolved', async (t) => {
  const app = await build({}, (app) => {
    app.get('/', async (request) => {
      t.equal(request.sessionLoaded, false)
      const error = t.throws(() => request.session) as Error & { code: string }
      t.ok(error instanceof SessionNotLoadedError)
      t.equal(error.code, 'FST_SESSION_NOT_LOADED')
      await request.loadSession()
      t.equal(request.sessionLoaded, true)
      return request.session.reason
    })
    app.get('/unloaded', async (request) => request.session.get('x'))
  })
  t.teardown(() => app.close())
  t.equal((await app.inject('/')).body, 'new')
  const response = await app.inject('/unloaded')
  t.equal(response.statusCode, 500)
  t.equal(response.json().code, 'FST_SESSION_NOT_LOADED')
})

t.test('loadSession is idempotent and concurrent calls share one load', async (t) => {
  const { store, calls } = recordingStore()
  const app = await build({ store }, (app) => {
    app.post('/set', async (request) => { (await request.loadSession()).set('a', 1); return 'ok' })
    app.get('/', async (request) => {
      const [a, b] = await Promise.all([request.loadSession(), request.loadSession()])
      const c = await request.loadSession()
      return { same: a === b && b === c && c === request.session }
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  calls.length = 0
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { same: true })
  t.same(calls, ['load'])
})

t.test('a route that never loads the session does no store I/O, no cookie work, no Set-Cookie', async (t) => {
  const { store, calls } = recordingStore()
  // Counts signature checks: a route that never loads must not pay for HMAC verification.
  const verified: string[] = []
  const verify = IdSigner.prototype.verify
  IdSigner.prototype.verify = function (this: IdSigner, value: string) { verified.push(value); return verify.call(this, value) }
  t.teardown(() => { IdSigner.prototype.verify = verify })
  const app = await build({ store, rolling: true, lifetime: 60, idleTimeout: 60 }, (app) => {
    app.post('/set', async (request) => { (await request.loadSession()).set('a', 1); return 'ok' })
    app.get('/none', async () => 'none')
    app.get('/load', async (request) => (await request.loadSession()).data())
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  calls.length = 0
  for (const headers of [{ cookie }, { cookie: 'session=forged.value' }, {}]) {
    const response = await app.inject({ url: '/none', headers })
    t.equal(response.headers['set-cookie'], undefined)
    t.equal(response.headers['cache-control'], undefined)
    t.equal(response.body, 'none')
  }
  t.same(calls, [])
  t.same(verified, [], 'no signature was checked')
  t.same((await app.inject({ url: '/load', headers: { cookie } })).json(), { a: 1 })
  t.same(verified, [cookie.slice(cookie.indexOf('=') + 1)], 'a route that loads checks the signature once')
})

t.test('a load that fails leaves request.session unloaded and the next call shares the failure', async (t) => {
  const failing: SessionStore = {
    load: async () => { throw new Error('down') },
    save: async () => true,
    destroy: async () => true
  }
  const app = await build({ store: failing }, (app) => {
    app.get('/', async (request) => {
      const first = await request.loadSession().catch((error: Error & { code: string }) => error.code)
      const second = await request.loadSession().catch((error: Error & { code: string }) => error.code)
      return { first, second, loaded: request.sessionLoaded }
    })
  })
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/', headers: { cookie: await signedCookie() } })
  t.same(response.json(), { first: 'FST_SESSION_STORE_UNAVAILABLE', second: 'FST_SESSION_STORE_UNAVAILABLE', loaded: false })
  t.equal(response.headers['set-cookie'], undefined)
})

t.test('adds one onSend hook and no @fastify/cookie: an app can register @fastify/cookie after the plugin', async (t) => {
  const Fastify = (await import('fastify')).default
  const cookiePlugin = (await import('@fastify/cookie')).default
  const plugin = (await import('../lib/index.ts')).default
  const alone = Fastify()
  await alone.register(plugin, { secret: 'a-secret-that-is-at-least-32-chars-long' })
  t.teardown(() => alone.close())
  t.equal(alone.hasDecorator('parseCookie'), false, 'the plugin does not register @fastify/cookie')
  t.equal(alone.hasReplyDecorator('setCookie'), false)

  const app = Fastify()
  await app.register(plugin, { secret: 'a-secret-that-is-at-least-32-chars-long' })
  await app.register(cookiePlugin)
  app.get('/', async (request, reply) => {
    const session = await request.loadSession()
    session.set('n', ((session.get('n') as number | undefined) ?? 0) + 1)
    reply.setCookie('other', 'x')
    return { n: session.get('n'), other: request.cookies.other ?? null }
  })
  t.teardown(() => app.close())
  const first = await app.inject('/')
  t.equal((first.headers['set-cookie'] as string[]).length, 2, 'both cookies are sent')
  const cookie = `${sessionCookie(first)?.header as string}; other=x`
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { n: 2, other: 'x' })
})

t.test('works when the app registered @fastify/cookie itself (request.cookies parsed)', async (t) => {
  const Fastify = (await import('fastify')).default
  const cookiePlugin = (await import('@fastify/cookie')).default
  const plugin = (await import('../lib/index.ts')).default
  const app = Fastify()
  await app.register(cookiePlugin)
  await app.register(plugin, { secret: 'a-secret-that-is-at-least-32-chars-long' })
  app.get('/', async (request, reply) => {
    const session = await request.loadSession()
    session.set('n', ((session.get('n') as number | undefined) ?? 0) + 1)
    reply.setCookie('other', 'x')
    return session.get('n')
  })
  t.teardown(() => app.close())
  const first = await app.inject('/')
  t.equal((first.headers['set-cookie'] as string[]).length, 2, 'both cookies are sent')
  const cookie = sessionCookie(first)?.header as string
  t.equal((await app.inject({ url: '/', headers: { cookie } })).body, '2')
})
