// The three routes every session subject serves (not a subject itself: bench/harness.mjs lists the subjects).

/** fastify-lazy-session: /read and /write load the session explicitly; /none never does. */
export function lazyRoutes () {
  return {
    none: async () => ({ ok: true }),
    read: async (request) => {
      const s = await request.loadSession()
      return { n: s.get('n') ?? null }
    },
    write: async (request) => {
      const s = await request.loadSession()
      const n = (s.get('n') ?? 0) + 1
      s.set('n', n)
      return { n }
    }
  }
}

/** The peers: their hooks have loaded `request.session` (eagerly, on every route) before the handler runs. */
export function eagerRoutes () {
  return {
    none: async () => ({ ok: true }),
    read: async (request) => ({ n: request.session.get('n') ?? null }),
    write: async (request) => {
      const n = (request.session.get('n') ?? 0) + 1
      request.session.set('n', n)
      return { n }
    }
  }
}
