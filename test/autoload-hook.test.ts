import t from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import plugin from '../lib/index.ts'
import { build, SECRET, sessionCookie } from './fixtures/app.ts'

const loaded = async (request: FastifyRequest): Promise<boolean> => request.sessionLoaded

/** Whether the session was loaded when each hook of the request ran, and in the handler. */
function hookRoutes (app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => { (request as unknown as { seen: string[] }).seen = [`onRequest:${request.sessionLoaded}`] })
  app.addHook('preValidation', async (request) => { (request as unknown as { seen: string[] }).seen.push(`preValidation:${request.sessionLoaded}`) })
  app.addHook('preHandler', async (request) => { (request as unknown as { seen: string[] }).seen.push(`preHandler:${request.sessionLoaded}`) })
  app.get('/', async (request) => (request as unknown as { seen: string[] }).seen)
}

t.test('autoloadHook: onRequest (default) loads before the onRequest hooks added after the plugin', async (t) => {
  const app = await build({ autoload: true }, hookRoutes)
  t.teardown(() => app.close())
  t.same((await app.inject('/')).json(), ['onRequest:true', 'preValidation:true', 'preHandler:true'])
})

t.test('autoloadHook: preValidation and preHandler load in that hook', async (t) => {
  const validation = await build({ autoload: true, autoloadHook: 'preValidation' }, hookRoutes)
  t.teardown(() => validation.close())
  t.same((await validation.inject('/')).json(), ['onRequest:false', 'preValidation:true', 'preHandler:true'])
  const handler = await build({ autoload: true, autoloadHook: 'preHandler' }, hookRoutes)
  t.teardown(() => handler.close())
  t.same((await handler.inject('/')).json(), ['onRequest:false', 'preValidation:false', 'preHandler:true'])
})

t.test('an invalid autoloadHook fails register', async (t) => {
  for (const autoloadHook of ['onSend', 'preParsing', true]) {
    const app = Fastify()
    app.register(plugin, { secret: SECRET, autoloadHook: autoloadHook as 'onRequest' })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_SESSION_INVALID_OPTION', message: /`autoloadHook` must be "onRequest", "preValidation" or "preHandler"/ })
  }
})

t.test('FST_SESSION_NOT_LOADED says which hook runs autoload and what to do in an earlier one', async (t) => {
  const early = async (request: FastifyRequest): Promise<void> => { request.session.get('x') }
  const late = await build({ autoload: true, autoloadHook: 'preHandler' }, (app) => {
    app.get('/', { onRequest: early }, async () => 'ok')
  })
  t.teardown(() => late.close())
  const response = await late.inject('/')
  t.equal(response.statusCode, 500)
  t.equal(response.json().code, 'FST_SESSION_NOT_LOADED')
  t.match(response.json().message, /autoload loads it in `preHandler`; in an earlier hook, call `await request\.loadSession\(\)` there, or set `autoloadHook: 'onRequest'`/)

  // A hook registered before the plugin runs before its onRequest hook.
  const app = Fastify()
  app.addHook('onRequest', early)
  await app.register(plugin, { secret: SECRET, autoload: true })
  app.get('/', async () => 'ok')
  t.teardown(() => app.close())
  const first = await app.inject('/')
  t.equal(first.json().code, 'FST_SESSION_NOT_LOADED')
  t.match(first.json().message, /autoload loads it in `onRequest`; an `onRequest` hook that runs before this plugin's must call `await request\.loadSession\(\)` itself/)
})

t.test('a route declared before register, and register without await: autoload still holds', async (t) => {
  const app = Fastify()
  app.get('/before', loaded)
  app.get('/before-off', { config: { session: { autoload: false } } }, loaded)
  app.register(plugin, { secret: SECRET, autoload: ['/before', '/after'] })
  app.get('/after', loaded)
  app.get('/elsewhere', loaded)
  app.get('/elsewhere-on', { config: { session: { autoload: true } } }, loaded)
  t.teardown(() => app.close())
  t.equal((await app.inject('/before')).json(), true)
  t.equal((await app.inject('/before-off')).json(), false)
  t.equal((await app.inject('/after')).json(), true)
  t.equal((await app.inject('/elsewhere')).json(), false)
  t.equal((await app.inject('/elsewhere-on')).json(), true)
})

t.test('routes in child encapsulation contexts, declared before or after the plugin, with prefixes', async (t) => {
  const app = Fastify()
  app.register(async (child) => {
    child.get('/page', loaded)
    child.register(async (grandchild) => { grandchild.get('/deep', { config: { session: { autoload: true } } }, loaded) })
  }, { prefix: '/admin' })
  await app.register(plugin, { secret: SECRET, autoload: ['/admin'] })
  app.register(async (child) => {
    child.get('/page', loaded)
    child.get('/page/:id', loaded)
  }, { prefix: '/shop' })
  app.register(async (child) => { child.get('/:id', loaded) }, { prefix: '/admin/users' })
  t.teardown(() => app.close())
  t.equal((await app.inject('/admin/page')).json(), true)
  t.equal((await app.inject('/admin/deep')).json(), true)
  t.equal((await app.inject('/shop/page')).json(), false)
  t.equal((await app.inject('/shop/page/1')).json(), false)
  t.equal((await app.inject('/admin/users/1')).json(), true)
})

t.test('autoload works in the hook: a session set in one request is read by a hook of the next', async (t) => {
  const app = await build({ autoload: true }, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.url === '/private' && request.session.get('user') === undefined) await reply.code(401).send('who?')
    })
    app.post('/login', async (request) => { request.session.set('user', 'ada'); return 'ok' })
    app.get('/private', async (request) => `hello ${request.session.get('user') as string}`)
  })
  t.teardown(() => app.close())
  t.equal((await app.inject('/private')).statusCode, 401)
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))?.header as string
  t.equal((await app.inject({ url: '/private', headers: { cookie } })).body, 'hello ada')
})

t.test('requests no route matches: autoload: true loads for the not-found handler; path rules use the raw path', async (t) => {
  const notFound = (app: FastifyInstance): void => {
    app.setNotFoundHandler(async (request, reply) => reply.code(404).send({ loaded: request.sessionLoaded }))
  }
  const all = await build({ autoload: true }, notFound)
  t.teardown(() => all.close())
  t.same((await all.inject('/nowhere')).json(), { loaded: true })
  const paths = await build({ autoload: ['/admin'] }, notFound)
  t.teardown(() => paths.close())
  t.same((await paths.inject('/admin/nowhere?x=1')).json(), { loaded: true })
  t.same((await paths.inject('/nowhere')).json(), { loaded: false })
  const none = await build({}, notFound)
  t.teardown(() => none.close())
  t.same((await none.inject('/admin/nowhere')).json(), { loaded: false })
})

t.test('a non-boolean config.session.autoload on a route declared before the plugin fails its requests with a clear 500', async (t) => {
  const app = Fastify()
  app.get('/bad', { config: { session: { autoload: 'yes' as unknown as boolean } } }, async () => 'handler ran')
  await app.register(plugin, { secret: SECRET })
  t.teardown(() => app.close())
  for (let i = 0; i < 2; i++) {
    const response = await app.inject('/bad')
    t.equal(response.statusCode, 500)
    t.equal(response.json().code, 'FST_SESSION_INVALID_OPTION')
    t.match(response.json().message, /`config\.session\.autoload` of route GET \/bad must be a boolean/)
  }
})
