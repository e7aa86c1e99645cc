// CookieStore: the whole session in an encrypted cookie, nothing kept on the server.
// SESSION_SECRET=… node examples/cookie-store.mjs   (to rotate: SESSION_SECRETS=new,old)
import Fastify from 'fastify'
import session, { CookieStore } from 'fastify-lazy-session'

const secrets = (process.env.SESSION_SECRETS ?? process.env.SESSION_SECRET ?? '').split(',').filter(Boolean)

const app = Fastify({ logger: true })
await app.register(session, {
  secret: secrets,                           // the first seals, every one opens: put a new secret first to rotate
  store: new CookieStore({ maxSize: 4096 }), // a bigger session fails with FST_SESSION_TOO_LARGE instead of a dropped cookie
  lifetime: 7 * 24 * 3600,
  idleTimeout: 30 * 60,
  absoluteTimeout: 30 * 24 * 3600            // a copied cookie cannot be revoked one by one: bound its life
})

app.get('/', async (request) => {
  const session = await request.loadSession()
  session.set('visits', (session.get('visits') ?? 0) + 1)
  return { visits: session.get('visits'), reason: session.reason }
})

await app.listen({ port: Number(process.env.PORT ?? 3000) })
