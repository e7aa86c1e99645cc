import connectPgSimple from 'connect-pg-simple'
import session from 'express-session'
import Fastify from 'fastify'
import pg from 'pg'
import t from 'tap'
import plugin from '../lib/index.ts'
import { CONFORMANCE_SECRET } from '../lib/conformance.ts'
import { connectStore } from '../lib/stores/connectStore.ts'
import { connectConformance } from './fixtures/connect.ts'
import { startPostgres } from './fixtures/postgres.ts'
import { freePort } from './fixtures/redis.ts'

const { pool } = await startPostgres(t)
const PgStore = connectPgSimple(session)

connectConformance(t, { createStore: () => connectStore(new PgStore({ pool, pruneSessionInterval: false })) })

t.test('the plugin\'s deadline becomes the expire column; without one, gcTtl', async (t) => {
  for (const [options, expected] of [[{ lifetime: 60 }, 60], [{}, 500]] as const) {
    await pool.query('DELETE FROM session')
    const app = Fastify()
    await app.register(plugin, { secret: CONFORMANCE_SECRET, ...options, store: connectStore(new PgStore({ pool, pruneSessionInterval: false }), { gcTtl: 500 }) })
    app.post('/login', async (request) => { (await request.loadSession()).set('user', 'ada'); return 'ok' })
    const before = Date.now()
    await app.inject({ method: 'POST', url: '/login' })
    const { rows } = await pool.query<{ sid: string, expire: Date, sess: Record<string, unknown> }>('SELECT sid, expire, sess FROM session')
    t.equal(rows.length, 1)
    const row = rows[0] as { sid: string, expire: Date, sess: Record<string, unknown> }
    const seconds = (row.expire.getTime() - before) / 1000
    t.ok(seconds > expected - 5 && seconds <= expected + 1, `${JSON.stringify(options)}: expires in ${seconds} s`)
    t.equal(row.sess.user, '"ada"')
    await app.close()
  }
})

t.test('a PostgreSQL that does not answer: the request fails with 503, the database error is not sent', async (t) => {
  const { Pool } = pg
  const dead = new Pool({ host: '127.0.0.1', port: await freePort(), user: 'postgres', connectionTimeoutMillis: 2000 })
  t.teardown(() => dead.end())
  const app = Fastify({ logger: false })
  await app.register(plugin, { secret: CONFORMANCE_SECRET, store: connectStore(new PgStore({ pool: dead, pruneSessionInterval: false })) })
  app.post('/login', async (request) => { (await request.loadSession()).set('user', 'ada'); return 'ok' })
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSION_STORE_UNAVAILABLE')
  t.notMatch(response.body, /ECONNREFUSED/)
  await app.close()
})
