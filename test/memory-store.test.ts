import t, { type Test } from 'tap'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'
import { storeConformanceSuite } from '../lib/conformance.ts'
import { mock } from 'node:test'

for (const c of storeConformanceSuite({ createStore: () => new MemoryStore(), closeStore: (store) => { (store as MemoryStore).close() } })) {
  t.test(c.name, c.run)
}

/** node:test's fake `setInterval` and `Date` until the test ends: the store's sweep timer runs only on `tick`. */
function fakeTimers (t: Test): { tick: (ms: number) => void } {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.now() })
  t.teardown(() => { mock.timers.reset() })
  return { tick: (ms) => { mock.timers.tick(ms) } }
}

function update (fields: Partial<SessionUpdate> = {}): SessionUpdate {
  const now = Date.now()
  return { create: true, replace: true, set: new Map([['k', '"v"']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 60, ...fields }
}

t.test('entries expire at their TTL, checked on read', async (t) => {
  const clock = fakeTimers(t)
  // No sweep within the test: the read itself must notice the deadline.
  const store = new MemoryStore({ sweepInterval: 3_600_000 })
  t.teardown(() => { store.close() })
  await store.save('a', update({ ttl: 1 }))
  clock.tick(999)
  t.ok(await store.load('a'), 'alive until its deadline')
  clock.tick(1)
  t.equal(await store.load('a'), null)
  t.equal(await store.save('a', update({ create: false })), false, 'an expired session is not updated back to life')
})

t.test('a session without a deadline is kept for gcTtl', async (t) => {
  const clock = fakeTimers(t)
  const store = new MemoryStore({ gcTtl: 1, sweepInterval: 3_600_000 })
  t.teardown(() => { store.close() })
  await store.save('a', update({ ttl: null }))
  clock.tick(999)
  t.ok(await store.load('a'))
  clock.tick(1)
  t.equal(await store.load('a'), null)
})

t.test('the sweep drops expired entries without reading them, in bounded slices', async (t) => {
  const clock = fakeTimers(t)
  const store = new MemoryStore({ sweepInterval: 20 })
  t.teardown(() => { store.close() })
  for (let i = 0; i < 5000; i++) await store.save('s' + i, update({ ttl: 1 }))
  await store.save('keep', update({ ttl: 60 }))
  t.equal(store.size, 5001)
  clock.tick(980)
  t.equal(store.size, 5001, 'nothing is due before the deadline')
  clock.tick(20)
  const sizes = [store.size]
  for (let i = 0; i < 6; i++) {
    clock.tick(20)
    sizes.push(store.size)
  }
  const drops = sizes.slice(1).map((size, i) => (sizes[i] as number) - size)
  t.ok(drops.every((drop) => drop <= 2000), `one sweep looks at 2000 entries at most (${drops.join(', ')})`)
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
  const clock = fakeTimers(t)
  const open = new MemoryStore({ sweepInterval: 20 })
  const closed = new MemoryStore({ sweepInterval: 20 })
  t.teardown(() => { open.close() })
  await open.save('a', update({ ttl: 1 }))
  await closed.save('a', update({ ttl: 1 }))
  await closed.save('b', update({ ttl: 60 }))
  closed.close()
  clock.tick(5000)
  t.equal(open.size, 0, 'a store that is not closed sweeps the expired session')
  t.equal(closed.size, 2, 'a closed store runs no sweep: the expired session is still held')
  t.ok(await closed.load('b'), 'and the sessions stay usable')
  t.equal(await closed.load('a'), null, 'an expired one is still refused on read')
})

t.test('invalid MemoryStore options are refused with the option named', async (t) => {
  for (const [name, value] of [['maxSessions', 0], ['gcTtl', -1], ['sweepInterval', 'x']] as const) {
    t.throws(() => new MemoryStore({ [name]: value }), { code: 'FST_SESSION_INVALID_OPTION', message: new RegExp(name) }, name)
  }
})
