import fc from 'fast-check'
import t from 'tap'
import { MemoryStore, type SessionUpdate } from '../lib/index.ts'
import { assertProperty, runs } from './fixtures/property.ts'

// MemoryStore against a reference segmented LRU with a per-user index: arbitrary creates, updates (binding,
// rebinding, unbinding users), loads, destroys, revocations and sweeps with a small `maxSessions` keep exactly the
// sessions the reference keeps, and `list` shows exactly the sessions of a user that still load.

type Op =
  | { kind: 'create', user: number | null }
  | { kind: 'update', pick: number, user: number | null | undefined }
  | { kind: 'load' | 'destroy', pick: number }
  | { kind: 'revoke', pick: number }
  | { kind: 'revokeAll', user: number, except: number | null }
  | { kind: 'list', user: number }
  | { kind: 'sweep' }

const USERS = 3
const user = fc.integer({ min: 0, max: USERS - 1 })
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('create' as const), user: fc.option(user) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), user: fc.oneof(fc.constant(undefined), fc.option(user)) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('load' as const, 'destroy' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revokeAll' as const), user, except: fc.option(fc.nat()) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('list' as const), user }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) }
)

const handle = (id: string): string => 'h-' + id
const userName = (n: number | null): string | null => n === null ? null : `user-${n}`

function update (id: string, create: boolean, value: string, user: string | null | undefined): SessionUpdate {
  const now = Date.now()
  return { create, replace: create, set: new Map([['v', value]]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 3600, handle: handle(id), user }
}

/** The reference: two segments, least recently used first, and the user of each session. */
class Reference {
  readonly probation: string[] = []
  readonly protected: string[] = []
  readonly users = new Map<string, string | null>()
  readonly maxSessions: number
  constructor (maxSessions: number) {
    this.maxSessions = maxSessions
  }

  has (id: string): boolean {
    return this.probation.includes(id) || this.protected.includes(id)
  }

  #segment (id: string): string[] {
    return this.probation.includes(id) ? this.probation : this.protected
  }

  create (id: string, user: string | null): void {
    this.probation.push(id)
    this.users.set(id, user)
    if (this.probation.length + this.protected.length > this.maxSessions) this.remove(this.probation[0] as string)
  }

  update (id: string, user: string | null | undefined): void {
    const segment = this.#segment(id)
    segment.splice(segment.indexOf(id), 1)
    segment.push(id)
    if (user !== undefined) this.users.set(id, user)
  }

  load (id: string): void {
    const segment = this.#segment(id)
    segment.splice(segment.indexOf(id), 1)
    this.protected.push(id)
    if (this.protected.length > Math.floor(this.maxSessions * 0.8)) this.probation.push(this.protected.shift() as string)
  }

  remove (id: string): void {
    const segment = this.#segment(id)
    segment.splice(segment.indexOf(id), 1)
    this.users.delete(id)
  }

  sessionsOf (user: string): string[] {
    return [...this.users].filter(([id, u]) => u === user && this.has(id)).map(([id]) => id).sort()
  }
}

t.test('eviction and the per-user index agree with a reference segmented LRU, whatever came before', async (t) => {
  await assertProperty(t, fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.array(opArbitrary, { maxLength: 200, size: 'max' }), async (maxSessions, ops) => {
    const store = new MemoryStore({ maxSessions })
    try {
      const model = new Reference(maxSessions)
      const known: string[] = []
      const pick = (n: number): string | undefined => known[n % Math.max(1, known.length)]
      for (const [step, op] of ops.entries()) {
        const at = `step ${step} (${op.kind})`
        if (op.kind === 'create') {
          const id = `s${step}`
          known.push(id)
          if (!await store.save(id, update(id, true, String(step), userName(op.user) ?? undefined))) throw new Error(`${at}: create resolved false`)
          model.create(id, userName(op.user))
        } else if (op.kind === 'sweep') {
          store.sweep()
        } else if (op.kind === 'revokeAll') {
          const except = op.except === null ? undefined : pick(op.except)
          const u = userName(op.user) as string
          const expected = model.sessionsOf(u).filter((id) => id !== except)
          const revoked = await store.revokeAll(u, except === undefined ? undefined : handle(except))
          if (revoked !== expected.length) throw new Error(`${at}: revoked ${revoked}, the reference ${expected.length}`)
          for (const id of expected) model.remove(id)
        } else if (op.kind === 'list') {
          const u = userName(op.user) as string
          const listed = (await store.list(u)).map((info) => info.handle).sort()
          const expected = model.sessionsOf(u).map(handle).sort()
          if (JSON.stringify(listed) !== JSON.stringify(expected)) throw new Error(`${at}: listed ${listed.join()}, the reference ${expected.join()}`)
        } else {
          const id = pick(op.pick)
          if (id === undefined) continue
          const present = model.has(id)
          if (op.kind === 'update') {
            const saved = await store.save(id, update(id, false, String(step), op.user === undefined ? undefined : userName(op.user)))
            if (saved !== present) throw new Error(`${at}: ${id} resolved ${String(saved)}`)
            if (saved) model.update(id, op.user === undefined ? undefined : userName(op.user))
          } else if (op.kind === 'load') {
            const record = await store.load(id)
            if ((record !== null) !== present) throw new Error(`${at}: ${id} → ${record === null ? 'none' : 'a session'}`)
            if (record !== null) {
              if ((record.user ?? null) !== model.users.get(id)) throw new Error(`${at}: ${id} bound to ${String(record.user)}`)
              model.load(id)
            }
          } else if (op.kind === 'revoke') {
            // Revoked under the user the reference has for it, or under another user (never removes it).
            const owner = model.users.get(id) ?? 'user-0'
            const expected = present && model.users.get(id) === owner
            const revoked = await store.revoke(owner, handle(id))
            if (revoked !== expected) throw new Error(`${at}: revoke ${id} resolved ${String(revoked)}`)
            if (revoked) model.remove(id)
          } else {
            const removed = await store.destroy(id)
            if (removed !== present) throw new Error(`${at}: ${id} resolved ${String(removed)}`)
            if (removed) model.remove(id)
          }
        }
        const size = model.probation.length + model.protected.length
        if (store.size !== size) throw new Error(`${at}: ${store.size} sessions, the reference has ${size}`)
      }
      for (const id of known) {
        if ((await store.load(id) !== null) !== model.has(id)) throw new Error(`end: ${id} should ${model.has(id) ? '' : 'not '}be kept`)
      }
      for (let u = 0; u < USERS; u++) {
        const listed = (await store.list(userName(u) as string)).map((info) => info.handle).sort()
        if (JSON.stringify(listed) !== JSON.stringify(model.sessionsOf(userName(u) as string).map(handle).sort())) throw new Error(`end: user-${u} listed ${listed.join()}`)
      }
    } finally {
      store.close()
    }
  }), runs(300))
})
