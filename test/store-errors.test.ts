import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, SessionStoreUnavailableError, type SessionStore } from '../lib/index.ts'
import { build, sessionCookie, signedCookie } from './fixtures/app.ts'

/** A real MemoryStore whose methods can be made to fail, as a store does when its server is down. */
function breakable (): { store: SessionStore, memory: MemoryStore, down: Set<string> } {
  const memory = new MemoryStore()
  const down = new Set<string>()
  const fail = (method: string): void => { if (down.has(method)) throw new Error(`${method} failed`) }
  return {
    memory,
    down,
    store: {
      load: async (id) => { fail('load'); return await memory.load(id) },
      save: async (id, update) => { fail('save'); return await memory.save(id, update) },
      destroy: async (id) => { fail('destroy'); return await memory.destroy(id) }
    }
  }
}

function routes (app: FastifyInstance): void {
  app.post('/set', async (request) => {
    const session = await request.loadSession()
    session.set('user', (request.query as { user?: string }).user ?? 'ada')
    return { reason: session.reason }
  })
  app.get('/read', async (request) => {
    const session = await request.loadSession()
    return { reason: session.reason, data: session.data() }
  })
  app.post('/save', async (request) => {
    const session = await request.loadSession()
    session.set('x', 1)
    const saved = await session.save().then(() => 'saved', (error: Error & { code: string }) => error.code)
    return { saved }
  })
  app.post('/regenerate', async (request) => {
    const session = await request.loadSession()
    await session.regenerate()
    return { id: session.id }
  })
  app.post('/destroy', async (request) => {
    await (await request.loadSession()).destroy()
    return 'ok'
  })
}

t.test("onStoreError 'fail': a failed load answers 503 FST_SESSION_STORE_UNAVAILABLE", async (t) => {
  const { store, down } = breakable()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  down.add('load')
  const response = await app.inject({ url: '/read', headers: { cookie } })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.equal(response.headers['set-cookie'], undefined)
})

t.test("onStoreError 'fail': a failed save, regenerate or destroy answers 503", async (t) => {
  const { store, down } = breakable()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  down.add('save')
  const saved = await app.inject({ method: 'POST', url: '/set?user=bob', headers: { cookie } })
  t.equal(saved.statusCode, 503)
  t.equal(saved.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.same((await app.inject({ method: 'POST', url: '/save', headers: { cookie } })).statusCode, 503, 'the end-of-request save fails too')
  down.delete('save')
  down.add('destroy')
  for (const url of ['/regenerate', '/destroy']) {
    const response = await app.inject({ method: 'POST', url, headers: { cookie } })
    t.equal(response.statusCode, 503, url)
  }
  down.clear()
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json().data, { user: 'ada' }, 'nothing was lost')
})

t.test("onStoreError 'fresh': continue with a new empty session, no cookie, the stored one untouched", async (t) => {
  const { store, down } = breakable()
  const app = await build({ store, onStoreError: 'fresh' }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  down.add('load')
  const response = await app.inject({ method: 'POST', url: '/set?user=mallory', headers: { cookie } })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { reason: 'new' })
  t.equal(response.headers['set-cookie'], undefined, 'the user keeps the cookie of the stored session')
  down.clear()
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { reason: 'loaded', data: { user: 'ada' } })
})

t.test("onStoreError 'fresh': a failed save is logged and the response goes on", async (t) => {
  const { store, down } = breakable()
  const app = await build({ store, onStoreError: 'fresh' }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  down.add('save')
  const failedCreate = await app.inject({ method: 'POST', url: '/set' })
  t.equal(failedCreate.statusCode, 200)
  t.equal(failedCreate.headers['set-cookie'], undefined, 'no cookie for a session that was not stored')
  const explicit = await app.inject({ method: 'POST', url: '/save', headers: { cookie } })
  t.same(explicit.json(), { saved: 'saved' })
  t.equal(explicit.headers['set-cookie'], undefined)
  down.clear()
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json().data, { user: 'ada' })
})

t.test('explicit save() rejects with the store error under fail', async (t) => {
  const { store, down } = breakable()
  // What the route's catch saw: the response itself is a 503 from the end-of-request retry, whatever the route did.
  const caught: unknown[] = []
  const app = await build({ store }, (app) => {
    routes(app)
    app.post('/save-caught', async (request) => {
      const session = await request.loadSession()
      session.set('x', 1)
      try {
        await session.save()
        caught.push('saved')
      } catch (error) {
        caught.push(error)
      }
      return 'ok'
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  down.add('save')
  const response = await app.inject({ method: 'POST', url: '/save-caught', headers: { cookie } })
  t.equal(response.statusCode, 503, 'the end-of-request save retries and fails too')
  t.equal(caught.length, 1)
  t.ok(caught[0] instanceof SessionStoreUnavailableError, 'the route caught the store failure')
  t.match(caught[0], { code: 'FST_SESSION_STORE_UNAVAILABLE', statusCode: 503 })
  down.clear()
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json().data, { user: 'ada' }, 'nothing of the failed save was stored')
})

t.test('a store that rejects with something other than an Error still gives FST_SESSION_STORE_UNAVAILABLE', async (t) => {
  const { memory } = breakable()
  const store = { load: memory.load.bind(memory), destroy: memory.destroy.bind(memory), save: async () => { throw 'connection refused' as unknown as Error } }
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/set' })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
})

t.test("onStoreError 'fail': an expired session whose removal fails answers 503, and the cookie is still deleted", async (t) => {
  // A store that still holds a session past its expiry (its own TTL is longer), and cannot remove it now.
  const store: SessionStore = {
    load: async () => ({ data: new Map([['user', '"ada"']]), createdAt: 1, lastAccessAt: 1, expiresAt: 2 }),
    save: async () => true,
    destroy: async () => { throw new Error('destroy failed') }
  }
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/read', headers: { cookie: await signedCookie() } })
  t.equal(response.statusCode, 503)
  t.equal(sessionCookie(response)?.value, '', 'the browser forgets the expired cookie')
})
