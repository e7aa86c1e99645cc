import t from 'tap'
import { MemoryStore, type SessionStore } from '../lib/index.ts'
import { storeConformanceSuite } from '../lib/conformance.ts'

// The index cases of the exported conformance suite: they run on stores with list/revoke/revokeAll, pass on a
// store without any of them, and fail a store that has only some.

/** A MemoryStore seen through only the given methods. */
function partial (methods: Array<keyof SessionStore>): () => SessionStore {
  return () => {
    const memory = new MemoryStore()
    memory.close()
    const store: Record<string, unknown> = {}
    for (const name of methods) store[name] = (memory[name] as (...args: unknown[]) => unknown).bind(memory)
    return store as unknown as SessionStore
  }
}

const indexCases = (createStore: () => SessionStore): ReturnType<typeof storeConformanceSuite> =>
  storeConformanceSuite({ createStore, expiryWait: 3000 }).filter((c) => c.name.startsWith('index: '))

t.test('a store without the index methods passes the index cases (they do not apply)', async (t) => {
  const cases = indexCases(partial(['load', 'save', 'destroy']))
  t.equal(cases.length, 6)
  for (const c of cases) await t.resolves(c.run(), c.name)
})

t.test('a store with only some of the index methods fails them', async (t) => {
  for (const c of indexCases(partial(['load', 'save', 'destroy', 'list']))) {
    await t.rejects(c.run(), { message: /all of list, revoke and revokeAll, or none/ }, c.name)
  }
})

t.test('the index cases catch a store whose index misses a binding', async (t) => {
  const cases = indexCases(() => {
    const store = partial(['load', 'save', 'destroy', 'list', 'revoke', 'revokeAll'])()
    const save = store.save.bind(store)
    // drops every user binding: list() stays empty
    store.save = async (key, update) => await save(key, { ...update, user: undefined })
    return store
  })
  for (const c of cases) await t.rejects(c.run(), c.name)
})
