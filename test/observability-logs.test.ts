import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { MemoryStore, type SessionStore } from '../lib/index.ts'
import { handleOf, storeKeyOf } from '../lib/signing.ts'
import { build, sessionCookie } from './fixtures/app.ts'

const handle = (id: string): string => handleOf(storeKeyOf(id))

/** An app logging at debug level into `lines`, parsed. */
async function logged (t: Test, store: SessionStore, onStoreError: 'fail' | 'fresh' = 'fail'): Promise<{ app: FastifyInstance, lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  const app = await build({ store, onStoreError, cookie: { name: 'sid' } }, (app) => {
    app.get('/write', async (request) => { (await request.loadSession()).set('user', 'ada'); return 'ok' })
    app.get('/read', async (request) => (await request.loadSession()).reason)
    app.get('/destroy', async (request) => { await (await request.loadSession()).destroy(); return 'ok' })
  }, { logger: { level: 'debug', stream } })
  t.teardown(() => app.close())
  return { app, lines }
}

const about = (lines: Array<Record<string, unknown>>, text: string): Array<Record<string, unknown>> =>
  lines.filter((line) => String(line.msg).includes(text))

t.test('a refused cookie is logged with the handle of its session, never the ID', async (t) => {
  const { app, lines } = await logged(t, new MemoryStore())
  const created = sessionCookie(await app.inject('/write'), 'sid')
  const id = (created?.value as string).slice(0, 32)
  await app.inject({ url: '/destroy', headers: { cookie: created?.header } })
  await app.inject({ url: '/read', headers: { cookie: created?.header } })
  await app.inject({ url: '/read', headers: { cookie: 'sid=forged.value' } })
  const refused = about(lines, 'session cookie refused')
  t.same(refused.map(({ reason, handle }) => ({ reason, handle })), [
    { reason: 'not-found', handle: handle(id) },
    { reason: 'invalid', handle: undefined }
  ], 'the handle where the cookie named a session; none for a forgery')
  t.notOk(lines.some((line) => JSON.stringify(line).includes(id)), 'the ID is in no log line')
})

t.test("onStoreError 'fresh': the store failure is logged with the session's handle, never the ID", async (t) => {
  const memory = new MemoryStore()
  let broken = false
  const store: SessionStore = {
    load: (id) => broken ? Promise.reject(new Error(`cannot load ${id}`)) : memory.load(id),
    save: (id, update) => memory.save(id, update),
    destroy: (id) => memory.destroy(id)
  }
  const { app, lines } = await logged(t, store, 'fresh')
  const created = sessionCookie(await app.inject('/write'), 'sid')
  const id = (created?.value as string).slice(0, 32)
  broken = true
  t.equal((await app.inject({ url: '/read', headers: { cookie: created?.header } })).body, 'new')
  const failures = about(lines, 'store load failed')
  t.equal(failures.length, 1)
  t.equal(failures[0]?.level, 40, 'a warning')
  t.equal(failures[0]?.handle, handle(id))
  t.notOk(lines.some((line) => JSON.stringify(line).includes(id)), 'the ID is in no log line')
})
