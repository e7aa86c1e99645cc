import t from 'tap'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'
import { handleOf } from '../lib/signing.ts'

// The per-user index of MemoryStore on the paths the conformance cases cannot reach from outside:
// eviction, the timed sweep, and a binding made without a handle from the plugin.

function update (fields: Partial<SessionUpdate> = {}): SessionUpdate {
  const now = Date.now()
  return { create: true, replace: true, set: new Map([['k', '"v"']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 3600, ...fields }
}

/** Runs `during` with Date.now moved `ms` ahead. */
async function later (ms: number, during: () => Promise<void> | void): Promise<void> {
  const realNow = Date.now
  const at = realNow() + ms
  Date.now = () => at
  try {
    await during()
  } finally {
    Date.now = realNow
  }
}

t.test('an evicted session leaves its user\'s index', async (t) => {
  const store = new MemoryStore({ maxSessions: 2 })
  t.teardown(() => { store.close() })
  await store.save('a', update({ handle: 'ha', user: 'ada' }))
  await store.save('b', update({ handle: 'hb', user: 'ada' }))
  await store.save('c', update())
  t.same((await store.list('ada')).map((info) => info.handle), ['hb'])
  await store.save('d', update())
  t.same(await store.list('ada'), [])
  t.equal(await store.revokeAll('ada'), 0)
})

t.test('the sweep removes expired sessions from the index', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => { store.close() })
  await store.save('short', update({ handle: 'h1', user: 'ada', ttl: 1 }))
  await store.save('long', update({ handle: 'h2', user: 'ada', ttl: 60 }))
  await store.load('long')
  await later(2000, () => {
    // two sweeps: probation first, then the protected segment
    store.sweep()
    store.sweep()
    t.equal(store.size, 1, 'the sweep dropped the expired session')
  })
  t.same((await store.list('ada')).map((info) => info.handle), ['h2'])
  await later(61_000, () => { store.sweep(); store.sweep() })
  t.equal(store.size, 0, 'the sweep reaches the protected segment too')
  t.same(await store.list('ada'), [])
})

t.test('a session bound without a handle from the caller is listed under the handle of its key', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => { store.close() })
  await store.save('key-1', update({ user: 'ada' }))
  t.same((await store.list('ada')).map((info) => info.handle), [handleOf('key-1')])
  t.equal(await store.revoke('ada', handleOf('key-1')), true)
})

t.test('list: most recently used first; device is a copy', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => { store.close() })
  const device = { ip: '192.0.2.1' }
  const now = Date.now()
  await store.save('old', update({ handle: 'old', user: 'ada', lastAccessAt: now - 5000, device }))
  await store.save('new', update({ handle: 'new', user: 'ada', lastAccessAt: now }))
  device.ip = 'changed by the caller'
  const list = await store.list('ada')
  t.same(list.map((info) => info.handle), ['new', 'old'])
  t.same(list[1]?.device, { ip: '192.0.2.1' })
  t.equal(list[0]?.device, undefined, 'no device recorded: none listed')
  const record = await store.load('old')
  t.same(record?.device, { ip: '192.0.2.1' })
  if (record?.device != null) record.device.ip = 'changed'
  t.same((await store.load('old'))?.device, { ip: '192.0.2.1' }, 'a loaded device is a copy too')
})

t.test('rebinding to the same user changes nothing; a session without a user is never listed', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => { store.close() })
  await store.save('a', update({ handle: 'ha', user: 'ada' }))
  await store.save('a', update({ create: false, replace: false, handle: 'ha', user: 'ada' }))
  await store.save('n', update({ handle: 'hn', user: null }))
  t.same((await store.list('ada')).map((info) => info.handle), ['ha'])
  t.equal(await store.revoke('ada', 'hn'), false)
})

t.test('list drops an expired session it finds, before any sweep', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => { store.close() })
  await store.save('short', update({ handle: 'h1', user: 'ada', ttl: 1 }))
  await store.save('long', update({ handle: 'h2', user: 'ada', ttl: 60 }))
  await later(2000, async () => {
    t.same((await store.list('ada')).map((info) => info.handle), ['h2'])
  })
  t.equal(store.size, 1, 'the expired session was removed when list found it')
})
