import t, { type Test } from 'tap'
import { CookieStore, MemoryStore, RedisStore, type SessionStore } from '../lib/index.ts'
import { observe, sequence, serialize, type Published } from './fixtures/observe.ts'
import { connect, startRedis, uniquePrefix } from './fixtures/redis.ts'
import { userApp, type SignedIn } from './fixtures/user-sessions.ts'

const messages = (published: Published[], channel: string): Array<Record<string, unknown>> =>
  published.filter((entry) => entry.channel === channel).map(({ message }) => message)

/** Neither a cookie value nor a session ID (the part of a signed cookie before the dot) in any message. */
function noSecrets (t: Test, published: Published[], sessions: SignedIn[]): void {
  const text = serialize(published)
  for (const { cookie } of sessions) {
    const value = cookie.slice(cookie.indexOf('=') + 1)
    t.notOk(text.includes(value), 'no cookie value in any message')
    t.notOk(text.includes(value.split('.')[0] as string), 'no session ID')
  }
}

async function revocations (t: Test, kind: string, store: SessionStore): Promise<void> {
  const { app, login, me } = await userApp(t, { store })
  const ada = [await login('ada'), await login('ada'), await login('ada')]
  const bob = await login('bob')
  const events = observe(t)

  t.equal((await app.sessions.list('ada')).length, 3)
  const listed = events.take()
  t.same(sequence(listed), ['store:list'], 'app.sessions.list: one traced store call, no event')
  t.match(messages(listed, 'store:asyncEnd')[0], { operation: 'list', request: null, handle: null, store: kind, result: 3 })

  t.equal(await app.sessions.revoke('ada', ada[0]?.handle as string), true)
  const revoked = events.take()
  t.same(sequence(revoked), ['store:revoke', 'revoked'])
  t.match(messages(revoked, 'store:asyncEnd')[0], { operation: 'revoke', request: null, handle: ada[0]?.handle, store: kind, result: true })
  t.same(messages(revoked, 'revoked')[0], { request: null, handle: ada[0]?.handle, store: kind, reason: 'revoke', count: 1, except: null })

  t.equal(await app.sessions.revoke('ada', ada[0]?.handle as string), false)
  t.same(sequence(events.take()), ['store:revoke'], 'nothing revoked: no event')

  t.equal(await app.sessions.revokeAll('ada', { except: ada[1]?.handle as string }), 1)
  const all = events.take()
  t.same(sequence(all), ['store:revokeAll', 'revoked'])
  t.match(messages(all, 'store:start')[0], { operation: 'revokeAll', request: null, handle: null, store: kind })
  t.same(messages(all, 'revoked')[0], { request: null, handle: null, store: kind, reason: 'revoke-all', count: 1, except: ada[1]?.handle })

  t.equal(await app.sessions.revokeAll('bob'), 1)
  t.same(messages(events.take(), 'revoked')[0], { request: null, handle: null, store: kind, reason: 'revoke-all', count: 1, except: null })

  t.equal((await me(ada[2]?.cookie as string)).body.reason, 'not-found', 'a revoked session is refused at its next request')
  t.match(messages(events.take(), 'refused')[0], { reason: 'not-found', handle: ada[2]?.handle, store: kind })
  noSecrets(t, events.all, [...ada, bob])
}

t.test('MemoryStore: app.sessions calls are traced without a request and publish :revoked', async (t) => {
  await revocations(t, 'MemoryStore', new MemoryStore())
})

t.test('RedisStore: app.sessions calls are traced without a request and publish :revoked', async (t) => {
  const server = await startRedis(t)
  await revocations(t, 'RedisStore', new RedisStore({ client: connect(t, server), prefix: uniquePrefix() }))
})

t.test('maxSessionsPerUser: the least recently used session is revoked in the request that signs in one too many', async (t) => {
  const { login } = await userApp(t, { store: new MemoryStore(), maxSessionsPerUser: 2 })
  const first = await login('ada')
  await login('ada')
  const events = observe(t)
  const third = await login('ada')
  const published = events.take()
  t.same(sequence(published), ['store:save', 'created', 'saved', 'store:list', 'store:revoke', 'revoked'])
  const [revoked] = messages(published, 'revoked')
  t.match(revoked, { handle: first.handle, store: 'MemoryStore', reason: 'max-sessions', count: 1, except: null })
  t.ok(revoked?.request !== null && typeof revoked?.request === 'object', 'in the request that signed in')
  t.equal(messages(published, 'created')[0]?.handle, third.handle)
  t.match(messages(published, 'store:start').map((message) => [message.operation, message.handle]), [['save', third.handle], ['list', null], ['revoke', first.handle]])
  noSecrets(t, events.all, [first, third])
})

t.test('CookieStore: revokeAll is traced and published (count 0); each load checks the cut-off inside the trace, refused as "revoked"', async (t) => {
  const { app, login, me, tick } = await userApp(t, { store: new CookieStore() })
  const victim = await login('ada')
  const keeper = await login('ada')
  tick()
  const events = observe(t)
  t.equal(await app.sessions.revokeAll('ada', { except: keeper.handle }), 0)
  const all = events.take()
  t.same(sequence(all), ['store:revokeAll', 'revoked'])
  t.same(messages(all, 'revoked')[0], { request: null, handle: null, store: 'CookieStore', reason: 'revoke-all', count: 0, except: keeper.handle })
  tick()

  t.equal((await me(victim.cookie)).body.reason, 'revoked')
  const refused = events.take()
  t.same(sequence(refused), ['store:revoked', 'refused'])
  t.match(messages(refused, 'store:asyncEnd')[0], { operation: 'revoked', handle: victim.handle, store: 'CookieStore', result: true })
  t.match(messages(refused, 'refused')[0], { reason: 'revoked', handle: victim.handle, store: 'CookieStore' })

  t.equal((await me(keeper.cookie)).body.reason, 'loaded')
  const kept = events.take()
  t.same(sequence(kept), ['store:revoked', 'loaded'])
  t.equal(messages(kept, 'store:asyncEnd')[0]?.result, false)
  noSecrets(t, events.all, [victim, keeper])
})
