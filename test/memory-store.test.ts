import t from 'tap'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'
import { storeConformanceSuite } from '../lib/conformance.ts'
import { sleep } from './fixtures/app.ts'

for (const c of storeConformanceSuite({ createStore: () => new MemoryStore(), closeStore: (store) => { (store as MemoryStore).close() } })) {
  t.test(c.name, c.run)
}

function update (fields: Partial<SessionUpdate> = {}): SessionUpdate {
  const now = Date.now()
  return { create: true, replace: true, set: new Map([['k', '"v"']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 60, ...fields }
}

t.test('entries expire at their TTL, checked on read', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => { store.close() })
  await store.save('a', update({ ttl: 1 }))
  t.ok(await store.load('a'))
  await sleep(1050)
  t.equal(await store.load('a'), null)
  t.equal(await store.save('a', update({ create: false })), false, 'an expired session is not updated back to life')
})

t.test('a session without a deadline is kept for gcTtl', async (t) => {
  const store = new MemoryStore({ gcTtl: 1 })
  t.teardown(() => { store.close() })
  await store.save('a', update({ ttl: null }))
  t.ok(await store.load('a'))
  await sleep(1050)
  t.equal(await store.load('a'), null)
})

t.test('the sweep drops expired entries without reading them', async (t) => {
  const store = new MemoryStore({ sweepInterval: 20 })
  t.teardown(() => { store.close() })
  for (let i = 0; i < 5000; i++) await store.save('s' + i, update({ ttl: 1 }))
  await store.save('keep', update({ ttl: 60 }))
  t.equal(store.size, 5001)
  await sleep(1300)
  t.equal(store.size, 1, 'the timer swept every expired entry in bounded slices')
  t.ok(await store.load('keep'))
})

t.test('maxSessions evicts the least recently used session', async (t) => {
  const store = new MemoryStore({ maxSessions: 2 })
  t.teardown(() => { store.close() })
  await store.save('a', update())
  await store.save('b', update())
  await store.load('a')
  await store.save('c', update())
  t.equal(store.size, 2)
  t.equal(await store.load('b'), null, 'b was used least recently')
  t.ok(await store.load('a'))
  t.ok(await store.load('c'))
})

t.test('a loaded record is a copy: changing it changes nothing stored', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => { store.close() })
  await store.save('a', update())
  const first = await store.load('a')
  first?.data.set('k', '"changed"')
  t.same([...(await store.load('a'))?.data ?? []], [['k', '"v"']])
})

t.test('close stops the sweep and keeps the sessions', async (t) => {
  const store = new MemoryStore()
  await store.save('a', update())
  store.close()
  t.ok(await store.load('a'))
})

t.test('invalid MemoryStore options are refused with the option named', async (t) => {
  for (const [name, value] of [['maxSessions', 0], ['gcTtl', -1], ['sweepInterval', 'x']] as const) {
    t.throws(() => new MemoryStore({ [name]: value }), { code: 'FST_SESSION_INVALID_OPTION', message: new RegExp(name) }, name)
  }
})
