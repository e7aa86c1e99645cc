import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, storeKeyOf } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'

function routes (app: FastifyInstance): void {
  app.post('/login', async (request) => {
    const session = await request.loadSession()
    const before = session.id
    await session.regenerate()
    session.set('user', 'ada')
    return { before, after: session.id }
  })
  app.get('/read', async (request) => {
    const session = await request.loadSession()
    return { id: session.id, reason: session.reason, data: session.data() }
  })
  app.post('/set', async (request) => { (await request.loadSession()).set('n', 1); return 'ok' })
  app.post('/destroy-then-set', async (request) => {
    const session = await request.loadSession()
    await session.destroy()
    const afterDestroy = { id: session.id, isNew: session.isNew, keys: session.keys() }
    session.set('fresh', true)
    return afterDestroy
  })
  app.post('/destroy', async (request) => { await (await request.loadSession()).destroy(); return 'ok' })
  app.post('/regenerate-new', async (request) => {
    const session = await request.loadSession()
    await session.regenerate()
    return { id: session.id }
  })
  app.post('/regenerate-then-clear', async (request) => {
    const session = await request.loadSession()
    await session.regenerate()
    session.clear()
    return 'ok'
  })
}

t.test('regenerate: new ID, data kept, old ID removed from the store at once', async (t) => {
  const store = new MemoryStore()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  const response = await app.inject({ method: 'POST', url: '/login', headers: { cookie } })
  const { before, after } = response.json()
  t.not(after, before)
  t.equal(await store.load(before), null, 'the old ID is gone (session fixation)')
  const fresh = sessionCookie(response)?.header as string
  t.same((await app.inject({ url: '/read', headers: { cookie: fresh } })).json(), { id: after, reason: 'loaded', data: { n: 1, user: 'ada' } })
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().reason, 'not-found')
})

t.test('regenerate on a session never stored just creates it at the end', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.equal(response.json().before, null)
  t.equal(response.json().after, null, 'no ID until stored')
  const cookie = sessionCookie(response)?.header as string
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json().data, { user: 'ada' })
  t.equal((await app.inject({ method: 'POST', url: '/regenerate-new' })).headers['set-cookie'], undefined)
})

t.test('regenerate then clear: nothing stored, the old cookie deleted', async (t) => {
  const store = new MemoryStore()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  const response = await app.inject({ method: 'POST', url: '/regenerate-then-clear', headers: { cookie } })
  t.equal(sessionCookie(response)?.value, '')
  t.equal(store.size, 0)
})

t.test('destroy: removed from the store now, cookie cleared; data set afterwards starts a new session', async (t) => {
  const store = new MemoryStore()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  const destroyed = await app.inject({ method: 'POST', url: '/destroy', headers: { cookie } })
  t.equal(sessionCookie(destroyed)?.value, '')
  t.equal(store.size, 0)

  const again = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  const response = await app.inject({ method: 'POST', url: '/destroy-then-set', headers: { cookie: again } })
  t.same(response.json(), { id: null, isNew: true, keys: [] })
  const fresh = sessionCookie(response)
  t.ok(fresh?.value, 'a live cookie for the new session replaces the deletion')
  t.same((await app.inject({ url: '/read', headers: { cookie: fresh?.header } })).json().data, { fresh: true })
  t.equal((await app.inject({ url: '/read', headers: { cookie: again } })).json().reason, 'not-found')
})

t.test('destroy with a custom cookie path and domain deletes the cookie on that path and domain', async (t) => {
  const store = new MemoryStore()
  const app = await build({ store, cookie: { path: '/app', domain: 'example.com' } }, routes)
  t.teardown(() => app.close())
  // A custom path and domain rule out the __Host- prefix: the cookie is named `session`.
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }), 'session')?.header as string
  const deletion = sessionCookie(await app.inject({ method: 'POST', url: '/destroy', headers: { cookie } }), 'session')
  t.equal(deletion?.value, '')
  t.match(deletion?.attributes, /; Path=\/app(;|$)/)
  t.match(deletion?.attributes, /; Domain=example\.com(;|$)/)
  t.match(deletion?.attributes, /; Expires=Thu, 01 Jan 1970 00:00:00 GMT/)
  t.equal(store.size, 0)
})

t.test('destroy on a new session without a cookie sends nothing', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'POST', url: '/destroy' })).headers['set-cookie'], undefined)
})

t.test('save() persists now; later changes are saved at the end of the request too', async (t) => {
  const store = new MemoryStore()
  let idAfterSave: string | null = null
  const app = await build({ store }, (app) => {
    routes(app)
    app.post('/stream', async (request) => {
      const session = await request.loadSession()
      session.set('step', 1)
      await session.save()
      idAfterSave = session.id
      const stored = await store.load(storeKeyOf(session.id as string))
      session.set('step', 2)
      await session.save()
      await session.save()
      session.set('after', true)
      return { stored: stored?.data.get('step') }
    })
  })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/stream' })
  t.same(response.json(), { stored: '1' }, 'the first save() reached the store before the handler went on')
  const cookie = sessionCookie(response)
  t.ok(cookie?.value)
  const read = (await app.inject({ url: '/read', headers: { cookie: cookie?.header } })).json()
  t.equal(read.id, idAfterSave)
  t.same(read.data, { step: 2, after: true })
})
