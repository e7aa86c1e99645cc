import t from 'tap'
import { RedisStore } from '../lib/index.ts'
import { storeConformanceSuite } from '../lib/conformance.ts'
import { connectCluster, startRedisCluster } from './fixtures/redis-cluster.ts'
import { indexCases } from './fixtures/redis-index.ts'
import { update } from './fixtures/redis.ts'

const cluster = await startRedisCluster(t)
const client = connectCluster(t, cluster)
let space = 0

// A fresh key space per case: the suite reuses fixed IDs.
for (const c of storeConformanceSuite({ createStore: () => new RedisStore({ client, prefix: `conformance:${++space}:` }) })) {
  t.test(`cluster: ${c.name}`, c.run)
}

t.test('sessions spread over all three masters load back from each', async (t) => {
  const store = new RedisStore({ client, prefix: 'spread:' })
  const ids = Array.from({ length: 60 }, (_, i) => `id-${i}`)
  await Promise.all(ids.map((id) => store.save(id, update({ create: true, replace: true, set: new Map([['id', id]]) }))))
  const masters = client.nodes('master')
  t.equal(masters.length, 3)
  for (const node of masters) {
    t.ok((await node.keys('spread:*')).length > 0, `master ${node.options.port ?? ''} holds some sessions`)
  }
  const records = await Promise.all(ids.map((id) => store.load(id)))
  t.same(records.map((record) => record?.data.get('id')), ids)
  for (const node of masters) {
    for (const key of await node.keys('spread:*')) t.ok(await node.pttl(key) > 0, `${key} has a TTL`)
  }
})

t.test('cluster: concurrent saves of different keys, no resurrection, replace', async (t) => {
  const store = new RedisStore({ client, prefix: 'merge:' })
  await store.save('s', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  await Promise.all([
    store.save('s', update({ set: new Map([['b', '2']]) })),
    store.save('s', update({ set: new Map([['c', '3']]), delete: ['a'] }))
  ])
  t.same([...(await store.load('s'))?.data ?? []].sort(), [['b', '2'], ['c', '3']])
  await store.save('s', update({ replace: true, set: new Map([['d', '4']]) }))
  t.same([...(await store.load('s'))?.data ?? []], [['d', '4']])
  await store.destroy('s')
  t.equal(await store.save('s', update({ set: new Map([['late', '1']]) })), false)
  t.equal(await store.load('s'), null)
})

t.test('cluster: a prefix function with a hash tag puts the key in the tagged slot', async (t) => {
  const store = new RedisStore({ client, prefix: (id) => `{tenant-7}:session:${id}` })
  await store.save('abc', update({ create: true, replace: true, set: new Map([['a', '1']]) }))
  const slot = await client.cluster('KEYSLOT', '{tenant-7}:session:abc')
  t.equal(slot, await client.cluster('KEYSLOT', 'tenant-7'))
  t.equal(await client.exists('{tenant-7}:session:abc'), 1)
  t.same([...(await store.load('abc'))?.data ?? []], [['a', '1']])
})

// A user's index and its sessions live in different slots: the cases prove the second call on the index slot.
indexCases(t, {
  client,
  async keys (prefix) {
    const keys: string[] = []
    for (const node of client.nodes('master')) keys.push(...await node.keys(`${prefix}*`))
    return keys
  }
})
