import t from 'tap'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { MemoryStore, RedisStore, SessionStoreUnavailableError, type SessionStore } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'
import { connect, ownServer, startRedis } from './fixtures/redis.ts'

// Security review finding 6: the 503 body carried Redis' own reply (e.g. `NOPERM this user has no permissions to run
// the 'eval' command`). What reaches the client is now generic; the store's error is the `cause`, and it is logged.

function routes (app: FastifyInstance): void {
  app.post('/set', async (request) => {
    const session = await request.loadSession()
    session.set('user', 'ada')
    return 'ok'
  })
  app.get('/read', async (request) => (await request.loadSession()).data())
}

function logged (): { stream: Writable, lines: string[] } {
  const lines: string[] = []
  return { lines, stream: new Writable({ write (chunk, _encoding, callback) { lines.push(String(chunk)); callback() } }) }
}

t.test('regression: store error text never reaches the client — the 503 is generic, the store error is the logged cause', async (t) => {
  const memory = new MemoryStore()
  t.teardown(() => memory.close())
  const secretText = 'WRONGPASS invalid username-password pair or user is disabled (10.0.0.7:6379)'
  let failing = false
  const store: SessionStore = {
    load: async (key) => { if (failing) throw new Error(secretText); return await memory.load(key) },
    save: async (key, update) => { if (failing) throw new Error(secretText); return await memory.save(key, update) },
    destroy: async (key) => await memory.destroy(key)
  }
  const { stream, lines } = logged()
  const app = await build({ store }, routes, { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))?.header as string
  failing = true
  for (const request of [{ url: '/read', headers: { cookie } }, { method: 'POST' as const, url: '/set' }]) {
    const response = await app.inject(request)
    t.equal(response.statusCode, 503)
    t.match(response.json(), { code: 'FST_SESSION_STORE_UNAVAILABLE', message: /^session store unavailable/ })
    t.notMatch(response.body, /WRONGPASS|10\.0\.0\.7/, 'nothing of the store error in the body')
  }
  t.ok(lines.some((line) => line.includes('WRONGPASS')), 'the store error is logged, as the cause')
})

t.test('the error thrown is FST_SESSION_STORE_UNAVAILABLE with the store\'s own error as its cause', async (t) => {
  const cause = new Error('connection reset')
  const store: SessionStore = { load: async () => { throw cause }, save: async () => true, destroy: async () => true }
  const app = await build({ store }, (app) => {
    app.get('/', async (request) => {
      const error = await request.loadSession().then(() => null, (error: unknown) => error)
      return { instance: error instanceof SessionStoreUnavailableError, same: (error as { cause?: unknown }).cause === cause }
    })
  })
  t.teardown(() => app.close())
  const issuer = await build({}, routes)
  const cookie = sessionCookie(await issuer.inject({ method: 'POST', url: '/set' }))?.header as string
  await issuer.close()
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { instance: true, same: true })
})

t.test('RedisStore with a Redis user that may not run scripts: the NOPERM reply stays in the logs', ownServer, async (t) => {
  const server = await startRedis(t)
  const admin = connect(t, server)
  await admin.call('ACL', 'SETUSER', 'limited', 'on', '>limited-password', '~*', '+@all', '-eval', '-evalsha', '-evalsha_ro', '-eval_ro', '-fcall', '-fcall_ro')
  const client = new Redis(server.url, { username: 'limited', password: 'limited-password' })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const { stream, lines } = logged()
  const app = await build({ store: new RedisStore({ client }) }, routes, { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/set' })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.notMatch(response.body, /NOPERM|eval/i, 'Redis\' reply is not sent to the client')
  t.ok(lines.some((line) => line.includes('NOPERM')), 'it is logged')
})
