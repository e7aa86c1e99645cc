// Autoload holds however an app is written: routes declared before the plugin is registered, `register` without
// `await` (the style of @fastify/session's README), routes in child contexts, and a plugin that reads the session
// in its own onRequest hook.
import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import session from '../lib/index.ts'
import { CookieJar, SECRET, request, storeCases } from './fixtures/ecosystem.ts'

/** Counts visits in the session: a route that sees an autoloaded session answers 1, 2, 3… */
async function visit (request: FastifyRequest): Promise<{ visits: number }> {
  const visits = (request.session.get('visits') as number | undefined ?? 0) + 1
  request.session.set('visits', visits)
  return { visits }
}

const stores = await storeCases(t)
for (const store of stores) {
  t.test(`${store.name}: routes declared before register and register without await`, async (t) => {
    const app = Fastify()
    app.get('/early', visit)
    app.get('/early-opt-in', { config: { session: { autoload: true } } }, visit)
    // Not awaited: Fastify queues the plugin, the routes below are declared before it has run.
    app.register(session, { secret: SECRET, store: store.create(), autoload: ['/early', '/late', '/child'] })
    app.get('/late', visit)
    app.get('/other', async (request) => ({ loaded: request.sessionLoaded }))
    app.register(async (child) => {
      child.get('/child', visit)
    })
    await app.ready()
    t.teardown(() => app.close())

    const jar = new CookieJar()
    for (const [url, expected] of [['/early', 1], ['/early', 2], ['/late', 3], ['/early-opt-in', 4], ['/child', 5]] as const) {
      const response = await request(app, jar, { url })
      t.equal(response.statusCode, 200, `GET ${url} answers`)
      t.same(response.json(), { visits: expected }, `GET ${url} found the session loaded`)
    }
    t.same((await request(app, jar, { url: '/other' })).json(), { loaded: false }, 'a route outside the autoload paths stays lazy')
  })
}

t.test('autoload: true without await, and a plugin reading the session in its own onRequest hook', async (t) => {
  const app = Fastify()
  app.get('/before', visit)
  app.register(session, { secret: SECRET, autoload: true })
  // What @fastify/csrf-protection does when it is hooked in onRequest: read the session synchronously.
  app.register(async (scope) => {
    scope.addHook('onRequest', async (request) => {
      request.session.set('seenInOnRequest', true)
    })
    scope.get('/after', visit)
  })
  app.get('/opt-out', { config: { session: { autoload: false } } }, async (request) => ({ loaded: request.sessionLoaded }))
  await app.ready()
  t.teardown(() => app.close())

  const jar = new CookieJar()
  t.same((await request(app, jar, { url: '/before' })).json(), { visits: 1 })
  const after = await request(app, jar, { url: '/after' })
  t.equal(after.statusCode, 200, 'the onRequest hook found the session loaded')
  t.same(after.json(), { visits: 2 })
  t.same((await request(app, jar, { url: '/opt-out' })).json(), { loaded: false }, 'config.session.autoload: false still opts out')
})
