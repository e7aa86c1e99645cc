import t from 'tap'
import { build, recordingStore, sessionCookie } from './fixtures/app.ts'

const routes = (app: import('fastify').FastifyInstance): void => {
  app.post('/set', async (request) => {
    const session = await request.loadSession()
    for (const [key, value] of Object.entries(request.body as object)) session.set(key, value)
    return 'ok'
  })
  app.get('/read', async (request) => (await request.loadSession()).data())
  app.post('/same', async (request) => {
    const session = await request.loadSession()
    session.set('a', session.get('a'))
    return 'ok'
  })
  app.post('/clear', async (request) => { (await request.loadSession()).clear(); return 'ok' })
  app.get('/custom-cache', async (request, reply) => {
    reply.header('cache-control', 'private, max-age=10')
    ;(await request.loadSession()).set('x', 1)
    return 'ok'
  })
}

t.test('unchanged and not rolling: no store write and no Set-Cookie', async (t) => {
  const { store, calls } = recordingStore()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } }))?.header as string
  calls.length = 0
  for (const url of ['/read', '/same']) {
    const response = await app.inject({ method: url === '/read' ? 'GET' : 'POST', url, headers: { cookie } })
    t.equal(response.headers['set-cookie'], undefined, url)
  }
  t.same(calls, ['load', 'load'], 'setting a key to the value it has is no change')
})

t.test('changed: saved once, and no Set-Cookie when the cookie value and expiry did not change', async (t) => {
  const { store, calls } = recordingStore()
  const app = await build({ store }, routes)
  t.teardown(() => app.close())
  const created = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
  t.same(calls, ['create'])
  t.equal(created.headers['cache-control'], 'no-store', 'a response that sets the session cookie is not cached')
  const cookie = sessionCookie(created)?.header as string
  calls.length = 0
  const changed = await app.inject({ method: 'POST', url: '/set', payload: { b: 2 }, headers: { cookie } })
  t.equal(changed.headers['set-cookie'], undefined)
  t.same(calls, ['load', 'save'])
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { a: 1, b: 2 })
})

t.test('a route that sets its own Cache-Control keeps it', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  const response = await app.inject('/custom-cache')
  t.ok(sessionCookie(response)?.value)
  t.equal(response.headers['cache-control'], 'private, max-age=10')
})

t.test('emptied: the store entry is removed and a deletion cookie with the same path and domain is sent', async (t) => {
  const { store, calls } = recordingStore()
  // A path other than the default: a deletion cookie sent with Path=/ would not delete a cookie set for /app.
  const app = await build({ store, cookie: { path: '/app', domain: 'example.com' } }, routes)
  t.teardown(() => app.close())
  // With a Domain, no `__Host-` name is allowed: the default name is then `session`.
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } }), 'session')?.header as string
  calls.length = 0
  const response = await app.inject({ method: 'POST', url: '/clear', headers: { cookie } })
  const deletion = sessionCookie(response, 'session')
  t.equal(deletion?.value, '')
  t.match(deletion?.attributes, /Max-Age=0/)
  t.match(deletion?.attributes, /; Domain=example\.com(;|$)/)
  t.match(deletion?.attributes, /; Path=\/app(;|$)/)
  t.same(calls, ['load', 'destroy'])
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), {})
})

t.test('new and still empty: nothing stored and no live cookie, rolling or not', async (t) => {
  for (const rolling of [false, true]) {
    const { store, calls } = recordingStore()
    const app = await build({ store, rolling, lifetime: 60 }, routes)
    const response = await app.inject({ method: 'POST', url: '/clear' })
    t.equal(response.headers['set-cookie'], undefined)
    t.same(calls, [])
    await app.close()
  }
})

t.test('a bad incoming cookie on a session left empty gets a deletion cookie', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  for (const cookie of ['__Host-session=forged', '__Host-session=' + 'A'.repeat(32) + '.' + 'B'.repeat(43)]) {
    const response = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(response.statusCode, 200)
    t.equal(sessionCookie(response)?.value, '')
  }
})

t.test('Set-Cookie carries Secure, HttpOnly, SameSite=Lax and Path=/ by default', async (t) => {
  const app = await build({}, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } }))
  t.match(cookie?.attributes, /; Path=\//)
  t.match(cookie?.attributes, /; HttpOnly/)
  t.match(cookie?.attributes, /; Secure/)
  t.match(cookie?.attributes, /; SameSite=Lax/)
  t.notMatch(cookie?.attributes, /Max-Age|Expires/, 'lifetime 0: a browser-session cookie')
})

t.test('cookie options are carried to Set-Cookie', async (t) => {
  const app = await build({ cookie: { name: '__Host-sid', sameSite: 'strict', partitioned: true } }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } }), '__Host-sid')
  t.match(cookie?.attributes, /SameSite=Strict/)
  t.match(cookie?.attributes, /Partitioned/)
  const read = await app.inject({ url: '/read', headers: { cookie: cookie?.header } })
  t.equal(sessionCookie(read, '__Host-sid'), undefined)
  t.same(read.json(), { a: 1 }, 'the session is read back from the custom-named cookie')
  const wrongName = await app.inject({ url: '/read', headers: { cookie: 'session=' + (cookie?.value as string) } })
  t.same(wrongName.json(), {}, 'a cookie under the default name is not the session cookie')
})
