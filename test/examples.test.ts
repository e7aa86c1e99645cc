import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { cookieOf, startExample } from './fixtures/example.ts'
import { connect, startRedis, within } from './fixtures/redis.ts'
import { startRedisCluster } from './fixtures/redis-cluster.ts'

const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url))

t.before(() => {
  if (!existsSync(new URL('../dist/index.js', import.meta.url))) throw new Error('dist/ is not built: run `npm run build`')
})

/** GET / twice, the second time with the cookie of the first: the count must go on. */
async function visitsTwice (t: Test, url: string): Promise<string> {
  const first = await fetch(url)
  t.equal(first.status, 200)
  t.same(await first.json(), { visits: 1 }, 'a new session counts its first visit')
  const cookie = cookieOf(first)
  if (cookie === undefined) throw new Error('no Set-Cookie on the first visit')
  const second = await fetch(url, { headers: { cookie } })
  t.same(await second.json(), { visits: 2 }, 'the cookie brings the session back')
  return cookie
}

t.test('the README Quick start is examples/quickstart.mjs, line for line', async (t) => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const section = readme.slice(readme.indexOf('## Quick start'))
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1]
  t.equal(block, await readFile(example('quickstart.mjs'), 'utf8'))
})

t.test('examples/quickstart.mjs', async (t) => {
  const app = await startExample(t, example('quickstart.mjs'))
  await visitsTwice(t, app.url + '/')
  const health = await fetch(app.url + '/health')
  t.equal(await health.text(), 'ok')
  t.same(health.headers.getSetCookie(), [], 'a route that never loads the session sends no cookie')
  const login = await fetch(app.url + '/login', { method: 'POST' })
  const cookie = cookieOf(login)
  t.ok(cookie, 'sign-in sends the regenerated session cookie')
  const account = await fetch(app.url + '/account', { headers: { cookie: cookie ?? '' } })
  t.same(await account.json(), { userId: '42' }, 'the autoloaded route sees the signed-in user')
  t.equal(await app.stop(), 'SIGTERM')
})

t.test('examples/quickstart.cjs', async (t) => {
  const app = await startExample(t, example('quickstart.cjs'))
  await visitsTwice(t, app.url + '/')
  t.equal(await app.stop(), 'SIGTERM')
})

t.test('examples/quickstart.mjs without SESSION_SECRET fails with the option error', async (t) => {
  await t.rejects(startExample(t, example('quickstart.mjs'), { SESSION_SECRET: '' }), /Invalid fastify-lazy-session option: `secret`/)
})

t.test('examples/cookie-store.mjs', async (t) => {
  const app = await startExample(t, example('cookie-store.mjs'))
  const first = await fetch(app.url + '/')
  t.same(await first.json(), { visits: 1, reason: 'new' })
  const cookie = cookieOf(first) ?? ''
  t.ok(cookie.length > 100, 'the whole session is in the cookie')
  const second = await fetch(app.url + '/', { headers: { cookie } })
  t.same(await second.json(), { visits: 2, reason: 'loaded' })
  t.equal(await app.stop(), 'SIGTERM')
})

t.test('examples/redis.mjs: sessions in Redis, and the owned client is quit when Fastify closes', async (t) => {
  const server = await startRedis(t)
  const app = await startExample(t, example('redis.mjs'), { REDIS_URL: server.url })
  await visitsTwice(t, app.url + '/')
  const redis = connect(t, server)
  const keys = await redis.keys('myapp:sess:*')
  t.ok(keys.length >= 1, 'the session is stored under the example prefix')
  // Exit code 0 on SIGTERM: app.close() ran onClose (redis.quit()) and nothing kept the process alive.
  t.equal(await within(20_000, app.stop()), 0)
  for (const key of keys) await redis.del(key)
})

t.test('examples/redis-cluster.mjs on a real 3-master cluster', async (t) => {
  const cluster = await startRedisCluster(t)
  const app = await startExample(t, example('redis-cluster.mjs'), {
    REDIS_CLUSTER_NODES: cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',')
  })
  await visitsTwice(t, app.url + '/')
  t.equal(await within(20_000, app.stop()), 0)
})
