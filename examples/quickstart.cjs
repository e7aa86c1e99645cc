// The Quick start from CommonJS: `require()` of this ES module package (Node ≥ 20.19).
const Fastify = require('fastify')
const { fastifyLazySession } = require('fastify-lazy-session')

async function main () {
  const app = Fastify({ logger: true })
  await app.register(fastifyLazySession, {
    secret: process.env.SESSION_SECRET, // ≥ 32 characters
    lifetime: 14 * 24 * 3600,
    rolling: true,
    idleTimeout: 30 * 60
  })

  app.get('/', async (request) => {
    const session = await request.loadSession()
    session.set('visits', (session.get('visits') ?? 0) + 1)
    return { visits: session.get('visits') }
  })

  app.get('/health', async () => 'ok')

  await app.listen({ port: Number(process.env.PORT ?? 3000) })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
