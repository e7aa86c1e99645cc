import connectPgSimple from 'connect-pg-simple'
import session from 'express-session'
import t from 'tap'
import { storeConformanceSuite } from '../lib/conformance.ts'
import { connectStore } from '../lib/stores/connectStore.ts'
import { startPostgres } from './fixtures/postgres.ts'

const { pool } = await startPostgres(t)
const PgStore = connectPgSimple(session)

for (const c of storeConformanceSuite({ createStore: () => connectStore(new PgStore({ pool, pruneSessionInterval: false })) })) {
  t.test(c.name, c.run)
}
