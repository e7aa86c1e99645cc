import t from 'tap'
import { RedisStore } from '../lib/index.ts'
import { sessionCookie } from '../lib/conformance.ts'
import { connectCluster, startRedisCluster } from './fixtures/redis-cluster.ts'
import { logins, sessionApp } from './fixtures/redis-failover.ts'
import { ownServer, uniquePrefix, until, within } from './fixtures/redis.ts'

t.test('Cluster with replicas: a master is SIGKILLed; requests fail in time meanwhile, every acknowledged session survives, the app recovers', ownServer, async (t) => {
  const cluster = await startRedisCluster(t, { replicas: 1, nodeTimeout: 1000 })
  const client = connectCluster(t, cluster)
  const prefix = uniquePrefix()
  const store = new RedisStore({ client, prefix, timeout: 1000, durability: { replicas: 1, timeout: 1000 } })
  const app = await sessionApp(t, store)
  const bound = 10_000
  const cookies = await logins(t, app, 30)

  // The victim: the master holding the first session; which sessions it holds, by their data (keys are opaque).
  const masters = client.nodes('master')
  t.equal(masters.length, 3)
  const held = new Map<number, number[]>()
  for (const node of masters) {
    const users: number[] = []
    for (const key of await node.keys(`${prefix}*`)) users.push(Number(JSON.parse(await node.hget(key, 'd:user') as string).slice('user-'.length)))
    held.set(node.options.port as number, users)
  }
  const [victimPort, victimUsers] = [...held].find(([, users]) => users.length > 0) as [number, number[]]
  const victim = cluster.processes.find((server) => server.port === victimPort)
  await victim?.kill()
  const probe = cookies[victimUsers[0] as number] as string

  const statuses = new Set<number>()
  await until(60_000, 'a session of the killed master loads again', async () => {
    const response = await within(bound, app.inject({ url: '/me', headers: { cookie: probe } }))
    statuses.add(response.statusCode)
    return response.statusCode === 200
  })
  t.ok(statuses.has(503), 'requests during the failover failed with 503 (and did not hang)')
  t.notOk([...statuses].some((status) => status !== 200 && status !== 503), `only 200 and 503: ${[...statuses].join(', ')}`)

  for (const [i, cookie] of cookies.entries()) {
    const response = await within(bound, app.inject({ url: '/me', headers: { cookie } }))
    t.same(response.json(), { user: `user-${i}` }, `session ${i} survived${victimUsers.includes(i) ? ' (on the killed master)' : ''}`)
  }

  // The promoted replica has no replica of its own until the killed node returns: it rejoins as one (nodes.conf).
  await victim?.start()
  for (let i = 0; i < 10; i++) {
    let cookie = ''
    await until(30_000, `login ${i} after the failover is saved`, async () => {
      const response = await within(bound, app.inject(`/login?user=after-${i}`))
      cookie = sessionCookie(response)?.header ?? ''
      return response.statusCode === 200
    })
    t.same((await app.inject({ url: '/me', headers: { cookie } })).json(), { user: `after-${i}` })
  }
})
