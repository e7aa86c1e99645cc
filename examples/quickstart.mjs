import Fastify from 'fastify'
import session from 'fastify-lazy-session'

const app = Fastify({ logger: true })
await app.register(session, {
  secret: process.env.SESSION_SECRET, // ≥ 32 characters, kept out of the code
  lifetime: 14 * 24 * 3600,           // seconds
  rolling: true,
  idleTimeout: 30 * 60                // refused after 30 minutes without a request that loads it
})

app.get('/', async (request) => {
  const session = await request.loadSession()        // the store is read here, and only here
  session.set('visits', (session.get('visits') ?? 0) + 1)
  return { visits: session.get('visits') }
})

app.post('/login', async (request) => {
  const session = await request.loadSession()
  await session.regenerate()                          // new ID, old one removed (session fixation)
  session.set('userId', '42')
  return { ok: true }
})

app.get('/account', { config: { session: { autoload: true } } }, async (request) => {
  return { userId: request.session.get('userId') ?? null }   // loaded before the handler
})

app.get('/health', async () => 'ok')                  // never loads: no cookie work, no store I/O

await app.listen({ port: Number(process.env.PORT ?? 3000) })
