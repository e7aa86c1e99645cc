import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import plugin, { RedisStore, type FastifyLazySessionOptions } from '../lib/index.ts'
import { CONFORMANCE_SECRET, sessionCookie } from '../lib/conformance.ts'
import { connect, delay, ownServer, startRedis, uniquePrefix, within, type RedisServer } from './fixtures/redis.ts'

/** An app whose `/get` returns the session data and `/set` stores the query; every log line is kept in `logs`. */
async function build (t: Test, store: RedisStore, options: Partial<FastifyLazySessionOptions> = {}): Promise<{ app: FastifyInstance, logs: string[] }> {
  const logs: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { logs.push(chunk.toString()); done() } })
  const app = Fastify({ logger: { level: 'debug', stream } })
  await app.register(plugin, { secret: CONFORMANCE_SECRET, store, ...options })
  app.get('/plain', async () => 'plain')
  app.get('/get', async (request) => (await request.loadSession()).data())
  app.get('/set', async (request) => {
    const session = await request.loadSession()
    for (const [key, value] of Object.entries(request.query as Record<string, string>)) session.set(key, value)
    return session.data()
  })
  t.teardown(() => app.close())
  await within(3000, app.ready())
  return { app, logs }
}

/** The `Cookie` header and the session ID of a new session holding `data`. */
async function createSession (app: FastifyInstance, query: string): Promise<{ cookie: string, id: string }> {
  const response = await app.inject(`/set?${query}`)
  const cookie = sessionCookie(response)
  if (cookie === undefined) throw new Error('no session cookie')
  return { cookie: cookie.header, id: cookie.value.slice(0, cookie.value.indexOf('.')) }
}

/** A store on `server` through a client that retries forever (the worst case for hangs). */
function pausableStore (t: Test, server: RedisServer): RedisStore {
  const client = connect(t, server, { maxRetriesPerRequest: null })
  return new RedisStore({ client, prefix: uniquePrefix(), timeout: 500 })
}

t.test("onStoreError 'fail': Redis paused → 503 FST_SESSION_STORE_UNAVAILABLE within the timeout, no session ID in logs", ownServer, async (t) => {
  const server = await startRedis(t)
  const { app, logs } = await build(t, pausableStore(t, server))
  const { cookie, id } = await createSession(app, 'user=ada')

  server.pause()
  t.teardown(() => server.resume())
  const response = await within(3000, app.inject({ url: '/get', headers: { cookie } }))
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.notMatch(response.body, id)
  t.equal((await within(3000, app.inject('/plain'))).body, 'plain', 'routes that never load the session are unaffected')
  t.ok(logs.some((line) => line.includes('FST_SESSION_STORE_UNAVAILABLE')), 'the failure is logged')
  t.notOk(logs.some((line) => line.includes(id)), 'the session ID is in no log line')

  server.resume()
  const after = await within(5000, app.inject({ url: '/get', headers: { cookie } }))
  t.same(after.json(), { user: 'ada' }, 'after SIGCONT the session is back')
})

t.test("onStoreError 'fresh': Redis paused → 200 with an empty session; the stored session is not overwritten", ownServer, async (t) => {
  const server = await startRedis(t)
  const { app, logs } = await build(t, pausableStore(t, server), { onStoreError: 'fresh' })
  const { cookie, id } = await createSession(app, 'user=ada')

  server.pause()
  t.teardown(() => server.resume())
  const response = await within(3000, app.inject({ url: '/set?user=mallory', headers: { cookie } }))
  t.equal(response.statusCode, 200)
  t.same(response.json(), { user: 'mallory' }, 'the request went on with a new, empty session')
  t.equal(sessionCookie(response), undefined, 'the browser keeps its cookie')
  t.ok(logs.some((line) => line.includes('"level":40') && line.includes('no reply from Redis within 500 ms')), 'a warning is logged')
  t.notOk(logs.some((line) => line.includes(id)), 'the session ID is in no log line')

  server.resume()
  await delay(100)
  const after = await within(5000, app.inject({ url: '/get', headers: { cookie } }))
  t.same(after.json(), { user: 'ada' }, 'after SIGCONT the stored session is unchanged')
})

t.test('the app starts while Redis is down, answers 503 in time, and recovers when Redis comes up', ownServer, async (t) => {
  const server = await startRedis(t)
  await server.kill()
  const name = 'lazy' + uniquePrefix().replace(/\W/g, '')
  const store = new RedisStore({ url: `${server.url}?connectionName=${name}`, prefix: uniquePrefix(), timeout: 300 })
  const { app } = await build(t, store)
  t.equal((await app.inject('/plain')).body, 'plain')
  t.equal((await within(3000, app.inject('/set?a=1'))).statusCode, 503)

  await server.restart()
  let response = await app.inject('/set?a=1')
  for (const deadline = Date.now() + 10_000; response.statusCode !== 200 && Date.now() < deadline; await delay(100)) {
    response = await app.inject('/set?a=1')
  }
  t.equal(response.statusCode, 200)
  const cookie = sessionCookie(response)?.header as string
  t.same((await app.inject({ url: '/get', headers: { cookie } })).json(), { a: '1' })

  const admin = connect(t, server)
  t.match(await admin.client('LIST'), `name=${name} `)
  await within(3000, app.close())
  t.notMatch(await admin.client('LIST'), `name=${name} `, 'closing Fastify quits the connection the store opened')
})
