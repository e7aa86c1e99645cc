// Bare Fastify: the three routes just reply. The ceiling every other subject is compared with.

export async function setup (app) {
  return {
    none: async () => ({ ok: true }),
    read: async () => ({ n: 1 }),
    write: async () => ({ n: 1 })
  }
}
