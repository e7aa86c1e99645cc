import fc from 'fast-check'
import t from 'tap'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'

// MemoryStore against a reference LRU: arbitrary creates, updates, loads, destroys and sweeps with a small
// `maxSessions` keep exactly the sessions the reference keeps — the least recently used one goes first.

const runs = (fallback: number): number => Number(process.env.FC_RUNS ?? fallback)

type Op =
  | { kind: 'create' }
  | { kind: 'update' | 'load' | 'destroy', pick: number }
  | { kind: 'sweep' }

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'create' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('update' as const, 'load' as const, 'destroy' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) }
)

function update (create: boolean, value: string): SessionUpdate {
  const now = Date.now()
  return { create, replace: create, set: new Map([['v', value]]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 3600 }
}

t.test('evicting past maxSessions removes the least recently used session, whatever came before', async (t) => {
  const started = Date.now()
  try {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.array(opArbitrary, { maxLength: 300 }), async (maxSessions, ops) => {
      const store = new MemoryStore({ maxSessions })
      try {
        /** the reference: least recently used first */
        const order: string[] = []
        const known: string[] = []
        const touch = (id: string): void => {
          order.splice(order.indexOf(id), 1)
          order.push(id)
        }
        for (const [step, op] of ops.entries()) {
          const id = op.kind === 'create' ? `s${step}` : known[(op.kind === 'sweep' ? 0 : op.pick) % Math.max(1, known.length)]
          if (op.kind === 'sweep') {
            store.sweep()
          } else if (id === undefined) {
            continue
          } else if (op.kind === 'create') {
            known.push(id)
            if (!await store.save(id, update(true, String(step)))) throw new Error(`create ${id} resolved false`)
            order.push(id)
            if (order.length > maxSessions) order.shift()
          } else if (op.kind === 'update') {
            const saved = await store.save(id, update(false, String(step)))
            if (saved !== order.includes(id)) throw new Error(`step ${step}: update ${id} resolved ${String(saved)}`)
            if (saved) touch(id)
          } else if (op.kind === 'load') {
            const record = await store.load(id)
            if ((record !== null) !== order.includes(id)) throw new Error(`step ${step}: load ${id} → ${record === null ? 'none' : 'a session'}`)
            if (record !== null) touch(id)
          } else {
            const removed = await store.destroy(id)
            if (removed !== order.includes(id)) throw new Error(`step ${step}: destroy ${id} resolved ${String(removed)}`)
            if (removed) order.splice(order.indexOf(id), 1)
          }
          if (store.size !== order.length) throw new Error(`step ${step}: ${store.size} sessions, the reference has ${order.length}`)
        }
        for (const id of known) {
          if ((await store.load(id) !== null) !== order.includes(id)) throw new Error(`end: ${id} should ${order.includes(id) ? '' : 'not '}be kept`)
        }
      } finally {
        store.close()
      }
    }), { numRuns: runs(300) })
    t.pass(`agrees with the reference LRU (${Date.now() - started} ms)`)
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `\n${error.cause.message}` : ''
    t.comment(`${error instanceof Error ? error.message : String(error)}${cause}`)
    t.fail('property failed: seed, path and counterexample above')
  }
})
