// The conformance suite through connectStore() on in-process stores: express-session's MemoryStore (keeps JSON) and
// @fastify/session's (keeps the session objects themselves).
import session from 'express-session'
import t from 'tap'
import { connectStore } from '../lib/stores/connectStore.ts'
import { connectConformance } from './fixtures/connect.ts'
import { oldMemoryStore } from './fixtures/migrate.ts'

t.test('express-session MemoryStore', async (t) => {
  connectConformance(t, { createStore: () => connectStore(new session.MemoryStore()) })
})

t.test('@fastify/session MemoryStore', async (t) => {
  connectConformance(t, { createStore: () => connectStore(oldMemoryStore()) })
})
