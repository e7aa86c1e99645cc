import t from 'tap'
import { RedisStore } from '../lib/index.ts'
import { sessionCookie } from '../lib/conformance.ts'
import { logins, sessionApp } from './fixtures/redis-failover.ts'
import { ownServer, RedisProcess, replicationInfo, uniquePrefix, until, within } from './fixtures/redis.ts'
import { connectSentinel, promoted, startSentinel } from './fixtures/redis-sentinel.ts'

t.test('Sentinel: the master is SIGKILLed; requests fail in time meanwhile, every acknowledged session survives the promotion, the app recovers', ownServer, async (t) => {
  const deployment = await startSentinel(t, { downAfter: 1000, failoverTimeout: 3000 })
  const client = connectSentinel(t, deployment)
  const store = new RedisStore({ client, prefix: uniquePrefix(), timeout: 1000, durability: { replicas: 1, timeout: 1000 } })
  const app = await sessionApp(t, store)
  // A request may take the store timeout plus the WAIT timeout; anything far past that is a hang.
  const bound = 10_000

  const cookies = await logins(t, app, 20)

  const oldPort = deployment.master.port
  await deployment.master.kill()
  const statuses = new Set<number>()
  // Until the replica is promoted and the client has found it, each request fails (503) — and answers.
  await until(60_000, 'a session created before the crash loads again', async () => {
    const response = await within(bound, app.inject({ url: '/me', headers: { cookie: cookies[0] as string } }))
    statuses.add(response.statusCode)
    return response.statusCode === 200
  })
  t.ok(statuses.has(503), 'requests during the failover failed with 503 (and did not hang)')
  t.notOk([...statuses].some((status) => status !== 200 && status !== 503), `only 200 and 503: ${[...statuses].join(', ')}`)
  const newPort = await promoted(deployment, oldPort)
  t.not(newPort, oldPort, 'the sentinels promoted the replica')

  for (const [i, cookie] of cookies.entries()) {
    const response = await within(bound, app.inject({ url: '/me', headers: { cookie } }))
    t.same(response.json(), { user: `user-${i}` }, `session ${i} survived`)
  }

  // No replica is left for `durability` until the crashed server comes back; a supervisor restarts it as a replica of
  // the new master (the sentinels would convert it too, but only at their next 10 s INFO round).
  const restarted = new RedisProcess(oldPort, [...deployment.master.args, '--replicaof', '127.0.0.1', String(newPort)])
  t.teardown(() => restarted.kill())
  await restarted.start()
  await until(60_000, 'the old master rejoins as a replica', async () => {
    const info = await replicationInfo(oldPort)
    return info.role === 'slave' && info.master_link_status === 'up'
  })
  let cookie = ''
  await until(30_000, 'a new login is saved', async () => {
    const response = await within(bound, app.inject('/login?user=after'))
    cookie = sessionCookie(response)?.header ?? ''
    return response.statusCode === 200
  })
  t.same((await app.inject({ url: '/me', headers: { cookie } })).json(), { user: 'after' })
})
