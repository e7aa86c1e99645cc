import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from './fixtures/app.ts'

/** Each route answers whether the session was loaded before its handler ran. */
function routes (app: FastifyInstance): void {
  const loaded = async (request: { sessionLoaded: boolean }): Promise<boolean> => request.sessionLoaded
  app.get('/plain', loaded)
  app.get('/on', { config: { session: { autoload: true } } }, loaded)
  app.get('/off', { config: { session: { autoload: false } } }, loaded)
  app.get('/admin', loaded)
  app.get('/admin/users', loaded)
  app.get('/administrator', loaded)
  app.get('/app/page', loaded)
  app.get('/:section/:page', loaded)
  app.get('/files/*', loaded)
  app.get('/admin/off', { config: { session: { autoload: false } } }, loaded)
  app.get('/with-hook', { preHandler: async (request) => { t.ok(request.sessionLoaded, 'autoload runs before the route\'s own preHandler') } }, loaded)
  app.get('/with-hooks', { config: { session: { autoload: true } }, preHandler: [async (request) => { t.ok(request.sessionLoaded) }] }, loaded)
}

async function loadedOn (app: FastifyInstance, url: string, method: 'GET' | 'HEAD' = 'GET'): Promise<boolean | number> {
  const response = await app.inject({ method, url })
  return method === 'HEAD' ? response.statusCode : response.json()
}

t.test('autoload: false (default) loads only on routes with config.session.autoload: true', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/plain'), false)
  t.equal(await loadedOn(app, '/on'), true)
  t.equal(await loadedOn(app, '/off'), false)
  t.equal(await loadedOn(app, '/admin/users'), false)
  t.equal(await loadedOn(app, '/with-hooks'), true)
})

t.test('autoload: true loads on every route except those that opt out', async (t) => {
  const app = await build({ autoload: true }, routes)
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/plain'), true)
  t.equal(await loadedOn(app, '/off'), false)
  t.equal(await loadedOn(app, '/with-hook'), true)
  t.equal(await loadedOn(app, '/plain', 'HEAD'), 200, 'the HEAD route Fastify adds works too')
})

t.test('path autoload: string prefixes match whole path segments, RegExps match the path', async (t) => {
  const app = await build({ autoload: ['/admin', /^\/app\//g] }, routes)
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/admin'), true)
  t.equal(await loadedOn(app, '/admin/users'), true)
  t.equal(await loadedOn(app, '/administrator'), false, '/admin is not a prefix of /administrator')
  t.equal(await loadedOn(app, '/plain'), false)
  t.equal(await loadedOn(app, '/app/page'), true)
  t.equal(await loadedOn(app, '/app/page'), true, 'a global RegExp keeps matching (no lastIndex carried over)')
  t.equal(await loadedOn(app, '/admin/off'), false, 'config.session.autoload: false wins over the path list')
  t.equal(await loadedOn(app, '/on'), true)
})

t.test('path autoload on parametric and wildcard routes is decided by the request path', async (t) => {
  const app = await build({ autoload: ['/admin/', '/files/private'] }, routes)
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/admin/settings'), true)
  t.equal(await loadedOn(app, '/admin/settings?x=/admin/'), true)
  t.equal(await loadedOn(app, '/blog/post'), false)
  t.equal(await loadedOn(app, '/admin/settings', 'HEAD'), 200)
  t.equal(await loadedOn(app, '/blog/post?next=/admin/x'), false, 'the query string is not part of the path')
  t.equal(await loadedOn(app, '/files/private/a.txt'), true)
  t.equal(await loadedOn(app, '/files/public/a.txt'), false)
})

t.test('an autoload that fails answers with the store error, not the handler', async (t) => {
  const app = await build({
    autoload: true,
    store: { load: async () => { throw new Error('down') }, save: async () => true, destroy: async () => true }
  }, (app) => { app.get('/', async () => 'handler ran') })
  t.teardown(() => app.close())
  const { signedCookie } = await import('./fixtures/app.ts')
  const response = await app.inject({ url: '/', headers: { cookie: await signedCookie() } })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
})
