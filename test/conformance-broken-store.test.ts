import t from 'tap'
import { MemoryStore, type SessionStore, type SessionUpdate } from '../lib/index.ts'
import { storeConformanceSuite } from '../lib/conformance.ts'

// The exported conformance suite run against deliberately broken stores: each defect must fail exactly the cases
// that check the behaviour it breaks (and a correct store passes them all), so a store author can trust a green run.

/** A real MemoryStore (sweep timer stopped) behind load/save/destroy, with `broken` changing one of them. */
function storeWith (broken: (memory: MemoryStore) => Partial<SessionStore>): () => SessionStore {
  return () => {
    const memory = new MemoryStore()
    memory.close()
    return {
      load: (key) => memory.load(key),
      save: (key, update) => memory.save(key, update),
      destroy: (key) => memory.destroy(key),
      ...broken(memory)
    }
  }
}

const defects: Record<string, { store: () => SessionStore, fails: string[] }> = {
  'a correct store': { store: storeWith(() => ({})), fails: [] },
  'a store that ignores the deleted keys of a save': {
    store: storeWith((memory) => ({ save: (key, update: SessionUpdate) => memory.save(key, { ...update, delete: [] }) })),
    fails: [
      'delete removes one key and keeps the others',
      'an emptied session is removed and its cookie deleted',
      'two requests that delete different keys leave no empty session behind',
      'store: a save that leaves no data removes the session and resolves false',
      'store: create, change, replace and destroy keep exactly the keys they should'
    ]
  },
  'a store that resurrects: a save without create writes a session that is gone': {
    store: storeWith((memory) => ({ save: (key, update: SessionUpdate) => memory.save(key, { ...update, create: true }) })),
    fails: [
      'a request in flight when another destroys the session does not bring it back',
      'store: save without create on a missing session writes nothing and resolves false'
    ]
  },
  'a store whose destroy removes nothing': {
    store: storeWith(() => ({ destroy: async () => true })),
    fails: [
      'an emptied session is removed and its cookie deleted',
      'destroy removes the session: the old cookie no longer loads it',
      'regenerate removes the old ID from the store',
      'a request in flight when another destroys the session does not bring it back',
      'regenerate after a concurrent destroy does not bring the session back under a new ID',
      'two concurrent regenerates of one session do not fork it into two',
      'store: destroy resolves true when it removed a session, false when there was none',
      'store: create, change, replace and destroy keep exactly the keys they should'
    ]
  },
  'a store that ignores replace: a cleared session keeps its old keys': {
    store: storeWith((memory) => ({ save: (key, update: SessionUpdate) => memory.save(key, { ...update, replace: false }) })),
    fails: [
      'store: create, change, replace and destroy keep exactly the keys they should'
    ]
  }
}

for (const [defect, { store, fails }] of Object.entries(defects)) {
  t.test(defect, async (t) => {
    const failed: string[] = []
    for (const c of storeConformanceSuite({ createStore: store, expiryWait: 3000 })) {
      await c.run().then(() => {}, () => { failed.push(c.name) })
    }
    t.same(failed, fails, fails.length === 0 ? 'every case passes' : 'exactly the cases that check this behaviour fail')
  })
}
