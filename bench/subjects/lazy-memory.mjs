// fastify-lazy-session with its MemoryStore, from the build in dist/ (`npm run build`).
// Routes load the session explicitly; /none never does.
import session, { MemoryStore } from '../../dist/index.js'
import { lazyRoutes } from './routes.mjs'

export async function setup (app, { secret }) {
  await app.register(session, { secret, store: new MemoryStore(), cookie: { secure: false } })
  return lazyRoutes()
}
