// Soak: a flood of new anonymous sessions against a MemoryStore that also holds signed-in users (issue 13, finding 4).
//
//   npx tsc -p . && node soak/memory-flood.mjs [anonymous=100000] [maxSessions=10000] [users=1000] [dist=dist]
//
// Through the plugin (app.inject, one process): `users` users sign in and come back once (their session is in use),
// then `anonymous` cookie-less requests each store something for a visitor (a CSRF token, a cart) in a new session;
// every 100 of them, one signed-in user (round robin) makes a request. At the end, prints how many users are still
// signed in and how many sessions the store holds. `dist` may point at another build (e.g. of the plain-LRU store
// before the segmented one) to compare. Not a test: the figure for docs/stores.md (test/memory-store-flood.test.ts
// is the small deterministic version).

import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const [anonymous = 100_000, maxSessions = 10_000, users = 1000] = process.argv.slice(2, 5).map(Number)
const dist = path.resolve(here, '..', process.argv[5] ?? 'dist')

const { default: Fastify } = await import('fastify')
const { default: plugin, MemoryStore } = await import(pathToFileURL(path.join(dist, 'index.js')).href)

const store = new MemoryStore({ maxSessions })
const app = Fastify()
await app.register(plugin, { secret: 'soak-secret-at-least-32-characters-long', store, cookie: { name: 'session', secure: false } })
app.post('/login', async (request) => {
  (await request.loadSession()).set('userId', request.body.user)
  return 'ok'
})
app.get('/me', async (request) => ({ userId: (await request.loadSession()).get('userId') ?? null }))
app.get('/visit', async (request) => {
  (await request.loadSession()).set('csrf', 'token')
  return 'ok'
})
await app.ready()

const cookieOf = (response) => String(response.headers['set-cookie']).split(';')[0]
const signedIn = async (cookie, i) => (await app.inject({ url: '/me', headers: { cookie } })).json().userId === `user-${i}`

const started = performance.now()
const cookies = []
for (let i = 0; i < users; i++) {
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { user: `user-${i}` } }))
  if (!await signedIn(cookie, i)) throw new Error('sign-in failed')
  cookies.push(cookie)
}
let lostDuringFlood = 0
for (let n = 0; n < anonymous; n++) {
  await app.inject('/visit')
  if (n % 100 === 99) {
    const i = (n / 100 | 0) % users
    if (!await signedIn(cookies[i], i)) lostDuringFlood++
  }
}
let kept = 0
for (const [i, cookie] of cookies.entries()) if (await signedIn(cookie, i)) kept++
const seconds = ((performance.now() - started) / 1000).toFixed(1)
console.log(`MemoryStore flood (${path.relative(path.resolve(here, '..'), dist)}): ${anonymous.toLocaleString('en-US')} new anonymous sessions, maxSessions ${maxSessions.toLocaleString('en-US')}, ${users.toLocaleString('en-US')} signed-in users in use`)
console.log(`users still signed in: ${kept} of ${users} (evicted: ${users - kept}); refused during the flood: ${lostDuringFlood}; sessions held: ${store.size}; ${seconds} s, Node ${process.version}`)
await app.close()
store.close()
