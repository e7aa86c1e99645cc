// Bare Fastify plus one empty onSend hook: what any plugin that finishes its work in onSend costs every route.
export async function setup (app) {
  app.addHook('onSend', function noop (_request, _reply, payload, done) { done(null, payload) })
  return {
    none: async () => ({ ok: true }),
    read: async () => ({ n: 1 }),
    write: async () => ({ n: 1 })
  }
}
