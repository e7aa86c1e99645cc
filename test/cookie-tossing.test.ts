import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { CookieStore, MemoryStore, type FastifyLazySessionOptions } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'

// Security review finding 1, cookie tossing: a sibling subdomain can set a `session` cookie for the parent domain with a
// more specific path, which the browser sends first. The default name is now `__Host-session` (no subdomain can set
// it), and of several session cookies in one request the first that verifies is used, with no deletion cookie.

function routes (app: FastifyInstance): void {
  app.get('/account/whoami', async (request) => {
    const session = await request.loadSession()
    return { reason: session.reason, user: session.get('user') ?? null }
  })
  app.post('/login', async (request) => {
    const session = await request.loadSession()
    session.set('user', (request.query as { user: string }).user)
    return 'ok'
  })
}

async function app (t: Test, options: Partial<FastifyLazySessionOptions>, logs?: string[]): Promise<FastifyInstance> {
  const stream = new Writable({ write (chunk, _encoding, callback) { logs?.push(String(chunk)); callback() } })
  const fastify = await build(options, routes, { logger: { level: 'debug', stream } })
  t.teardown(() => fastify.close())
  return fastify
}

async function login (fastify: FastifyInstance, user: string, name?: string): Promise<string> {
  const cookie = sessionCookie(await fastify.inject({ method: 'POST', url: `/login?user=${user}` }), name)
  if (cookie === undefined || cookie.value === '') throw new Error('no session cookie')
  return cookie.value
}

t.test('regression: cookie tossing — the default name is __Host-session (Secure, Path=/, no Domain)', async (t) => {
  const fastify = await app(t, {})
  const set = sessionCookie(await fastify.inject({ method: 'POST', url: '/login?user=ada' }))
  t.ok(set !== undefined && set.value !== '', 'the cookie is named __Host-session')
  t.match(set?.attributes, /; Path=\//)
  t.match(set?.attributes, /; Secure/)
  t.notMatch(set?.attributes, /Domain=/)
})

t.test('the default name is `session` where a __Host- name is not allowed', async (t) => {
  for (const cookie of [{ secure: false }, { path: '/app' }, { domain: 'example.com' }]) {
    const fastify = await app(t, { cookie })
    const set = sessionCookie(await fastify.inject({ method: 'POST', url: '/login?user=ada' }), 'session')
    t.ok(set !== undefined && set.value !== '', JSON.stringify(cookie))
    t.equal(sessionCookie(await fastify.inject({ method: 'POST', url: '/login?user=ada' })), undefined, 'and not __Host-session')
  }
})

t.test('`cookie: { name: \'session\' }` keeps the old name during an upgrade: existing cookies still load', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const fastify = await app(t, { store, cookie: { name: 'session' } })
  const value = await login(fastify, 'ada', 'session')
  t.same((await fastify.inject({ url: '/account/whoami', headers: { cookie: `session=${value}` } })).json(), { reason: 'loaded', user: 'ada' })
})

for (const [name, options] of [['MemoryStore', () => ({ store: new MemoryStore() })], ['CookieStore', () => ({ store: new CookieStore() })]] as const) {
  t.test(`${name}: regression: cookie tossing — a tossed cookie sent first does not sign the victim into another session`, async (t) => {
    const logs: string[] = []
    // The old default name, as an app that keeps it during an upgrade: the case the attack works against.
    const fastify = await app(t, { ...options(), cookie: { name: 'session' } }, logs)
    const victim = await login(fastify, 'victim', 'session')
    for (const planted of ['garbage', 'x'.repeat(40) + '.' + 'y'.repeat(43)]) {
      logs.length = 0
      const response = await fastify.inject({ url: '/account/whoami', headers: { cookie: `session=${planted}; session=${victim}` } })
      t.same(response.json(), { reason: 'loaded', user: 'victim' }, 'the first cookie that verifies is used')
      t.equal(response.headers['set-cookie'], undefined, 'no deletion cookie: it would delete the victim\'s real cookie')
      const warning = logs.find((line) => line.includes('several session cookies'))
      t.ok(warning, 'a warning is logged')
      t.notOk(logs.some((line) => line.includes(victim) || line.includes(planted)), 'the log carries no cookie value')
      t.match(JSON.parse(warning as string), { level: 40, cookies: 2 })
    }
  })

  t.test(`${name}: several session cookies and none verifies: a fresh session, no deletion cookie`, async (t) => {
    const fastify = await app(t, options())
    const response = await fastify.inject({ url: '/account/whoami', headers: { cookie: '__Host-session=one; other=1; __Host-session=two' } })
    t.same(response.json(), { reason: 'invalid', user: null })
    t.equal(response.headers['set-cookie'], undefined)
    const single = await fastify.inject({ url: '/account/whoami', headers: { cookie: '__Host-session=one' } })
    t.equal(sessionCookie(single)?.value, '', 'one bad cookie alone still gets its deletion cookie')
  })
}

t.test('a cookie name that only contains the session cookie\'s name is not it', async (t) => {
  const fastify = await app(t, {})
  const value = await login(fastify, 'ada')
  const response = await fastify.inject({ url: '/account/whoami', headers: { cookie: `x__Host-session=${value}; __Host-session-old=1` } })
  t.same(response.json(), { reason: 'new', user: null })
  const both = await fastify.inject({ url: '/account/whoami', headers: { cookie: `x__Host-session=garbage; __Host-session=${value}` } })
  t.same(both.json(), { reason: 'loaded', user: 'ada' })
})
