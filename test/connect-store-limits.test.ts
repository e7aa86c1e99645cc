// What connectStore() cannot give, shown rather than claimed: a save is get → apply → set, and another request may
// write between its get and its set. These tests pin the limits docs/connect-stores.md states.
import session from 'express-session'
import t from 'tap'
import { connectStore } from '../lib/stores/connectStore.ts'
import { update } from './fixtures/redis.ts'

/** express-session's MemoryStore whose next `set` after `hold()` waits until `release()`. */
function holdable (): { memory: session.MemoryStore, hold: () => { reached: Promise<void>, release: () => void } } {
  const memory = new session.MemoryStore()
  const set = memory.set.bind(memory)
  let held: { reached: () => void, released: Promise<void> } | null = null
  memory.set = (sid, sess, cb) => {
    const gate = held
    held = null
    if (gate === null) { set(sid, sess, cb); return }
    gate.reached()
    void gate.released.then(() => { set(sid, sess, cb) })
  }
  return {
    memory,
    hold () {
      let reached!: () => void
      let release!: () => void
      const reachedPromise = new Promise<void>((resolve) => { reached = resolve })
      held = { reached, released: new Promise<void>((resolve) => { release = resolve }) }
      return { reached: reachedPromise, release }
    }
  }
}

t.test('no per-key atomic saves: a change written between another save\'s get and set is lost', async (t) => {
  const { memory, hold } = holdable()
  const store = connectStore(memory)
  await store.save('s', update({ create: true, replace: true, set: new Map([['base', '0']]) }))
  const gate = hold()
  const slow = store.save('s', update({ set: new Map([['slow', 'true']]) }))
  await gate.reached
  t.equal(await store.save('s', update({ set: new Map([['fast', 'true']]) })), true)
  gate.release()
  t.equal(await slow, true)
  t.same((await store.load('s'))?.data, new Map([['base', '0'], ['slow', 'true']]), 'the fast change is gone (MemoryStore and RedisStore keep both)')
})

t.test('no protection against resurrection: a save whose get ran before a destroy brings the session back', async (t) => {
  const { memory, hold } = holdable()
  const store = connectStore(memory)
  await store.save('s', update({ create: true, replace: true, set: new Map([['user', '"ada"']]) }))
  const gate = hold()
  const late = store.save('s', update({ set: new Map([['late', '1']]) }))
  await gate.reached
  t.equal(await store.destroy('s'), true)
  gate.release()
  t.equal(await late, true)
  t.not(await store.load('s'), null, 'destroyed, then written again by the save that was in flight')
})
