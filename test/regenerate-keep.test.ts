import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { CookieStore, type FastifyLazySessionOptions } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'

function routes (app: FastifyInstance): void {
  app.post('/visit', async (request) => {
    const session = await request.loadSession()
    session.set('cart', ['book']).set('theme', 'dark').set('returnTo', '/checkout')
    return 'ok'
  })
  // What @fastify/passport does at login: regenerate(keepFields), then store the user.
  app.post('/login', async (request) => {
    const session = await request.loadSession()
    const before = session.id
    await session.regenerate(((request.query as { keep?: string }).keep ?? '').split(',').filter(Boolean))
    session.set('passport', 'ada')
    return { before, after: session.id, keys: session.keys().sort() }
  })
  app.post('/mutate-then-keep', async (request) => {
    const session = await request.loadSession()
    ;(session.get('cart') as string[]).push('pen')
    await session.regenerate(['cart'])
    return session.keys()
  })
  app.post('/bad-keep', async (request) => {
    const session = await request.loadSession()
    await session.regenerate('cart' as unknown as string[])
    return 'not reached'
  })
  app.post('/bad-keep-entry', async (request) => {
    const session = await request.loadSession()
    await session.regenerate([1] as unknown as string[])
    return 'not reached'
  })
  app.get('/read', async (request) => {
    const session = await request.loadSession()
    return { reason: session.reason, data: session.data() }
  })
}

for (const [name, options] of [['MemoryStore', {}], ['CookieStore', { store: new CookieStore() }]] as Array<[string, Partial<FastifyLazySessionOptions>]>) {
  t.test(`${name}: regenerate(keep) keeps only those keys under the new ID; the old cookie no longer loads it`, async (t) => {
    const app = await build(options, routes)
    t.teardown(() => app.close())
    const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/visit' }))?.header as string
    const response = await app.inject({ method: 'POST', url: '/login?keep=returnTo,missing', headers: { cookie } })
    t.same(response.json().keys, ['passport', 'returnTo'], 'kept keys that have no value are skipped')
    const fresh = sessionCookie(response)?.header as string
    t.not(fresh, cookie, 'a new cookie')
    t.same((await app.inject({ url: '/read', headers: { cookie: fresh } })).json(), { reason: 'loaded', data: { returnTo: '/checkout', passport: 'ada' } })
    if (name === 'MemoryStore') {
      t.not(response.json().after, response.json().before, 'a new ID')
      t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'not-found', 'the pre-login cookie does not load the signed-in session')
    }
  })
}

t.test('regenerate([]) clears every key; regenerate() keeps them all (those deleted stay deleted)', async (t) => {
  const app = await build({}, (app) => {
    routes(app)
    app.post('/regenerate-all', async (request) => {
      const session = await request.loadSession()
      session.delete('theme')
      await session.regenerate()
      return session.keys().sort()
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/visit' }))?.header as string
  const all = await app.inject({ method: 'POST', url: '/regenerate-all', headers: { cookie } })
  t.same(all.json(), ['cart', 'returnTo'])
  t.same((await app.inject({ url: '/read', headers: { cookie: sessionCookie(all)?.header as string } })).json().data, { cart: ['book'], returnTo: '/checkout' }, 'a key deleted before regenerate() stays deleted')
  const other = sessionCookie(await app.inject({ method: 'POST', url: '/visit' }))?.header as string
  const response = await app.inject({ method: 'POST', url: '/login', headers: { cookie: other } })
  t.same(response.json().keys, ['passport'])
  t.same((await app.inject({ url: '/read', headers: { cookie: sessionCookie(response)?.header as string } })).json().data, { passport: 'ada' })
})

t.test('regenerate(keep) keeps a kept value as changed in this request', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/visit' }))?.header as string
  const response = await app.inject({ method: 'POST', url: '/mutate-then-keep', headers: { cookie } })
  t.same(response.json(), ['cart'])
  t.same((await app.inject({ url: '/read', headers: { cookie: sessionCookie(response)?.header as string } })).json().data, { cart: ['book', 'pen'] })
})

t.test('regenerate(keep) on a session never stored keeps those keys and creates it', async (t) => {
  const app = await build({}, (app) => {
    routes(app)
    app.post('/anonymous', async (request) => {
      const session = await request.loadSession()
      session.set('a', 1).set('b', 2)
      await session.regenerate(['b'])
      return session.keys()
    })
  })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/anonymous' })
  t.same(response.json(), ['b'])
  t.same((await app.inject({ url: '/read', headers: { cookie: sessionCookie(response)?.header as string } })).json().data, { b: 2 })
})

t.test('regenerate(keep) with something other than an array of keys rejects with a TypeError and changes nothing', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/visit' }))?.header as string
  for (const url of ['/bad-keep', '/bad-keep-entry']) {
    const response = await app.inject({ method: 'POST', url, headers: { cookie } })
    t.equal(response.statusCode, 500)
    t.match(response.json().message, /regenerate\(keep\): keep must be an array of data keys/)
    t.equal(sessionCookie(response), undefined)
  }
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json().data, { cart: ['book'], theme: 'dark', returnTo: '/checkout' })
})
