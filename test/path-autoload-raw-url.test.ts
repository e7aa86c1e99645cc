// Security review finding 10 (issue 13): path autoload was decided on the raw URL, so `/%61dmin/1`, `//admin/1`
// and (with a case-insensitive router) `/ADMIN/1` reached `/admin/:id` without the session loaded.
import t from 'tap'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { build } from './fixtures/app.ts'

const loaded = async (request: FastifyRequest): Promise<boolean> => request.sessionLoaded

function routes (app: FastifyInstance): void {
  app.get('/admin/:id', loaded)
  app.get('/:section/:id', loaded)
  app.get('/reports/:year-:month', loaded)
  app.get('/files/:name.:ext', loaded)
  app.get('/orders/:id(^\\d+)/items', loaded)
  app.get('/time/10::30/:zone', loaded)
  app.get('/docs/*', loaded)
}

async function loadedOn (app: FastifyInstance, url: string): Promise<boolean> {
  const response = await app.inject(url)
  if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`)
  return response.json()
}

t.test('path autoload on the raw URL: an encoded or doubled-slash path reaching /admin/:id loads the session', async (t) => {
  const app = await build({ autoload: ['/admin'] }, routes, { routerOptions: { ignoreDuplicateSlashes: true } })
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/admin/1'), true)
  t.equal(await loadedOn(app, '/%61dmin/1'), true)
  t.equal(await loadedOn(app, '//admin/1'), true)
  t.equal(await loadedOn(app, '/%61%64%6d%69%6e/1'), true)
  t.equal(await loadedOn(app, '/blog/1'), false, '/:section/:id without admin does not load')
})

t.test('path autoload on the raw URL: a case-insensitive router sends /ADMIN/1 to /admin/:id, and it loads', async (t) => {
  for (const fastifyOptions of [{ routerOptions: { caseSensitive: false } }, { caseSensitive: false }]) {
    const app = await build({ autoload: ['/admin'] }, routes, fastifyOptions)
    t.teardown(() => app.close())
    t.equal(await loadedOn(app, '/ADMIN/1'), true)
    t.equal(await loadedOn(app, '/Admin/1'), true)
  }
  const sensitive = await build({ autoload: ['/admin'] }, routes)
  t.teardown(() => sensitive.close())
  t.equal(await loadedOn(sensitive, '/ADMIN/1'), false, 'a case-sensitive router sends /ADMIN/1 to /:section/:id, not an admin route')
})

t.test('path autoload on the raw URL: parametric routes are decided on the path as the router matched it', async (t) => {
  const app = await build({ autoload: ['/admin', '/reports/2024-01', '/files/secret.txt', '/orders/7', '/time/10:30/utc', '/docs/private'] }, routes)
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/%61dmin/anything'), true, '/admin/:id is answered by its pattern')
  t.equal(await loadedOn(app, '/blog/%61dmin'), false)
  t.equal(await loadedOn(app, '/reports/2024-01'), true, 'two parameters in one segment')
  t.equal(await loadedOn(app, '/reports/2024-02'), false)
  t.equal(await loadedOn(app, '/files/secret.txt'), true)
  t.equal(await loadedOn(app, '/files/secret.%74xt'), true)
  t.equal(await loadedOn(app, '/files/public.txt'), false)
  t.equal(await loadedOn(app, '/orders/7/items'), true, 'a parameter with its own RegExp')
  t.equal(await loadedOn(app, '/orders/8/items'), false)
  t.equal(await loadedOn(app, '/time/10:30/utc'), true, 'an escaped colon (::) is a literal colon')
  t.equal(await loadedOn(app, '/time/10:30/cet'), false)
  t.equal(await loadedOn(app, '/docs/%70rivate/a'), true, 'the wildcard')
  t.equal(await loadedOn(app, '/docs/public/a'), false)
})

t.test('path autoload on the raw URL: RegExp rules test the path as the router matched it', async (t) => {
  const app = await build({ autoload: [/^\/admin\//] }, routes)
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/%61dmin/1'), true)
  t.equal(await loadedOn(app, '/blog/1'), false)
})

t.test('path autoload: a prefix that no path of the route can match is decided once, false', async (t) => {
  const app = await build({ autoload: ['/account'] }, routes)
  t.teardown(() => app.close())
  t.equal(await loadedOn(app, '/admin/1'), false)
  t.equal(await loadedOn(app, '/orders/7/items'), false)
  t.equal(await loadedOn(app, '/account/1'), true, 'while /:section/:id can reach it')
})
