import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { MemoryStore, RedisStore, type SessionStore } from '../lib/index.ts'
import { traceStore } from '../lib/channels.ts'
import { handleOf, storeKeyOf } from '../lib/signing.ts'
import { build, sessionCookie } from './fixtures/app.ts'
import { observe, serialize } from './fixtures/observe.ts'
import { connect, ownServer, startRedis, uniquePrefix, within } from './fixtures/redis.ts'

const handle = (id: string): string => handleOf(storeKeyOf(id))

function routes (app: FastifyInstance): void {
  app.get('/write', async (request) => { (await request.loadSession()).set('user', 'ada'); return 'ok' })
  app.get('/read', async (request) => (await request.loadSession()).reason)
}

t.test('RedisStore stopped: the load and the save fail inside the tracing channel, with the error and no ID', ownServer, async (t) => {
  const server = await startRedis(t)
  const store = new RedisStore({ client: connect(t, server, { maxRetriesPerRequest: null }), prefix: uniquePrefix(), timeout: 300 })
  const app = await build({ store, cookie: { name: 'sid' } }, routes)
  t.teardown(() => app.close())
  const created = sessionCookie(await app.inject('/write'), 'sid')
  const cookie = created?.header as string
  const id = (created?.value as string).slice(0, 32)
  const events = observe(t)

  await server.kill()
  const read = await within(3000, app.inject({ url: '/read', headers: { cookie } }))
  t.equal(read.statusCode, 503)
  const failed = events.take()
  t.same(failed.map(({ channel }) => channel), ['store:start', 'store:end', 'store:error', 'store:asyncStart', 'store:asyncEnd'],
    'start, end, then error before asyncStart/asyncEnd: no lifecycle event')
  for (const { message } of failed) t.match(message, { operation: 'load', handle: handle(id), store: 'RedisStore' })
  const error = failed[2]?.message.error as { code?: string }
  t.equal(error.code, 'FST_SESSION_STORE_UNAVAILABLE', 'the store\'s own failure')
  t.equal(failed[2]?.message.result, undefined)

  const write = await within(3000, app.inject('/write'))
  t.equal(write.statusCode, 503)
  const saves = events.take()
  t.same(saves.map(({ channel }) => channel), ['store:start', 'store:end', 'store:error', 'store:asyncStart', 'store:asyncEnd'], 'no created, no saved')
  t.equal(saves[0]?.message.operation, 'save')

  const text = serialize(events.all)
  t.notOk(text.includes(id), 'no message or error holds the session ID')
  t.notOk(text.includes(created?.value as string), 'nor the cookie')
})

t.test('a store method that throws instead of rejecting: start, error, end', async (t) => {
  const memory = new MemoryStore()
  const store: SessionStore = {
    load: () => { throw new Error('the store is broken') },
    save: (id, update) => memory.save(id, update),
    destroy: (id) => memory.destroy(id)
  }
  const app = await build({ store, cookie: { name: 'sid' } }, routes)
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject('/write'), 'sid')?.header as string
  const events = observe(t)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).statusCode, 503)
  const published = events.take()
  t.same(published.map(({ channel }) => channel), ['store:start', 'store:error', 'store:end'])
  t.equal((published[1]?.message.error as Error).message, 'the store is broken')
})

t.test('a store call\'s result is a count or a flag, never the data it returned', async (t) => {
  const events = observe(t)
  const context = { operation: 'list' as const, request: null, handle: null, store: 'MemoryStore' }
  const sessions = [{ handle: 'a' }, { handle: 'b' }]
  t.equal(await traceStore({ ...context }, async () => sessions), sessions, 'the caller gets what the store returned')
  t.equal(await traceStore({ ...context, operation: 'revokeAll' }, async () => 3), 3)
  t.equal(await traceStore({ ...context, operation: 'load' }, async () => undefined), undefined)
  t.same(events.all.filter(({ channel }) => channel === 'store:asyncEnd').map(({ message }) => [message.operation, message.result]),
    [['list', 2], ['revokeAll', 3], ['load', false]])
})
