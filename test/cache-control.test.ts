import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { CookieStore, MemoryStore } from '../lib/index.ts'
import { privateCacheControl } from '../lib/RequestSession.ts'
import { build, sessionCookie } from './fixtures/app.ts'

// Security review finding 5: a route's `Cache-Control: public, max-age=600` was kept beside the session Set-Cookie,
// so a shared cache could hand one user's session to everyone. A response that sets the session cookie now says
// `no-store` unless the route set its own, and a route's value that lets a shared cache store it is made `private`.

function routes (app: FastifyInstance): void {
  app.get('/page', async (request, reply) => {
    const cacheControl = (request.query as { cc?: string }).cc
    if (cacheControl !== undefined) reply.header('cache-control', cacheControl)
    const session = await request.loadSession()
    session.set('visits', ((session.get('visits') as number | undefined) ?? 0) + 1)
    return 'ok'
  })
  app.get('/read', async (request, reply) => {
    reply.header('cache-control', 'public, max-age=600')
    await request.loadSession()
    return 'ok'
  })
  app.post('/logout', async (request, reply) => {
    reply.header('cache-control', 'public, max-age=60')
    await (await request.loadSession()).destroy()
    return 'ok'
  })
}

for (const [name, store] of [['MemoryStore', () => new MemoryStore()], ['CookieStore', () => new CookieStore()]] as const) {
  t.test(`${name}: regression: Set-Cookie on a publicly cacheable response — made private`, async (t) => {
    const app = await build({ store: store() }, routes)
    t.teardown(() => app.close())
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'no-store'],
      ['public, max-age=600', 'private, max-age=600'],
      ['max-age=600', 'private, max-age=600'],
      ['public, s-maxage=600, max-age=60', 'private, max-age=60'],
      ['s-maxage=600', 'private'],
      ['Public, Max-Age=5, must-revalidate', 'private, Max-Age=5, must-revalidate'],
      ['private, max-age=10', 'private, max-age=10'],
      ['no-store', 'no-store'],
      ['no-cache, max-age=0', 'no-cache, max-age=0'],
      ['max-age=600, no-store', 'max-age=600, no-store']
    ]
    for (const [route, sent] of cases) {
      const response = await app.inject({ url: '/page', query: route === undefined ? {} : { cc: route } })
      t.ok(sessionCookie(response)?.value, 'the response sets the session cookie')
      t.equal(response.headers['cache-control'], sent, `route ${String(route)} → ${sent}`)
    }
  })

  t.test(`${name}: a deletion cookie is never publicly cacheable either; a response without Set-Cookie keeps the route's value`, async (t) => {
    const app = await build({ store: store() }, routes)
    t.teardown(() => app.close())
    const cookie = sessionCookie(await app.inject('/page'))?.header as string
    const read = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(read.headers['set-cookie'], undefined)
    t.equal(read.headers['cache-control'], 'public, max-age=600', 'no session cookie in the response: the route decides')
    const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
    t.equal(sessionCookie(logout)?.value, '')
    t.equal(logout.headers['cache-control'], 'private, max-age=60')
  })
}

t.test('privateCacheControl: only values a shared cache may store change', async (t) => {
  t.equal(privateCacheControl('public'), 'private')
  t.equal(privateCacheControl(' public ,  max-age=1 '), 'private, max-age=1')
  t.equal(privateCacheControl('private, public, max-age=1'), 'private, max-age=1', 'one private, no public')
  t.equal(privateCacheControl('must-revalidate'), 'must-revalidate')
  t.equal(privateCacheControl('no-cache'), 'no-cache')
  t.equal(privateCacheControl(''), '')
})
