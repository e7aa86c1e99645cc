import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, type SessionStore, type SessionUpdate } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'

// Which binding and device each save carries (SessionUpdate.user / .device): `user` only when the userKey changed
// in the request (a string binds, null unbinds, undefined leaves a concurrent login alone).

function recording (): { store: SessionStore, updates: SessionUpdate[] } {
  const memory = new MemoryStore()
  const updates: SessionUpdate[] = []
  return {
    updates,
    store: {
      load: (key) => memory.load(key),
      save: (key, update) => { updates.push(update); return memory.save(key, update) },
      destroy: (key) => memory.destroy(key),
      list: (user) => memory.list(user),
      revoke: (user, handle) => memory.revoke(user, handle),
      revokeAll: (user, except) => memory.revokeAll(user, except),
      close: () => { memory.close() }
    }
  }
}

function routes (app: FastifyInstance): void {
  app.post('/set', async (request) => {
    const session = await request.loadSession()
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) session.set(key, value)
    return 'ok'
  })
  app.post('/delete', async (request) => {
    (await request.loadSession()).delete((request.query as { key: string }).key)
    return 'ok'
  })
  app.post('/clear-and-set', async (request) => {
    const session = await request.loadSession()
    session.clear()
    session.set('other', 1)
    return 'ok'
  })
  app.post('/replace', async (request) => {
    const session = await request.loadSession()
    const userId = session.get('userId')
    session.clear()
    session.set('userId', userId)
    session.set('other', 2)
    return 'ok'
  })
  app.post('/regenerate', async (request) => {
    await (await request.loadSession()).regenerate()
    return 'ok'
  })
}

t.test('the binding a save carries follows the userKey', async (t) => {
  const { store, updates } = recording()
  const app = await build({ store, userKey: 'userId' }, routes)
  t.teardown(() => app.close())
  const post = async (url: string, payload?: unknown, cookie?: string): Promise<string | undefined> => {
    const response = await app.inject({ method: 'POST', url, payload: payload as object, headers: cookie === undefined ? {} : { cookie } })
    t.equal(response.statusCode, 200, url)
    return sessionCookie(response)?.header
  }
  let cookie = await post('/set', { userId: 'ada' }) as string
  t.equal(updates.at(-1)?.user, 'ada', 'a new session created with the user key set carries it')
  const NO_SAVE = Symbol('no save')
  const steps: Array<[string, unknown, string | null | undefined | typeof NO_SAVE, string]> = [
    ['/set', { visits: 1 }, undefined, 'an unrelated change leaves the binding alone'],
    ['/set', { userId: 'ada' }, NO_SAVE, 'setting the value it has is no change'],
    ['/set', { userId: 'bob' }, 'bob', 'a new user rebinds'],
    ['/delete?key=userId', undefined, null, 'deleting the key unbinds'],
    ['/set', { userId: 42 }, '42', 'a finite number binds as a string'],
    ['/set', { userId: 42 }, NO_SAVE, 'the same number again is no change'],
    ['/set', { userId: { id: 7 } }, null, 'a value that is neither a string nor a finite number binds no user'],
    ['/set', { userId: 'carol' }, 'carol', 'a string binds again'],
    ['/replace', undefined, undefined, 'clear() and the same user again: the binding is unchanged'],
    ['/set', { userId: '' }, null, 'an empty string is no user'],
    ['/set', { userId: 'carol' }, 'carol', 'bound again'],
    ['/clear-and-set', undefined, null, 'clear() drops the key: unbound']
  ]
  for (const [url, payload, user, name] of steps) {
    updates.length = 0
    await post(url, payload, cookie)
    if (user === NO_SAVE) t.same(updates, [], name)
    else t.equal(updates.at(-1)?.user, user, name)
  }
  cookie = await post('/set', { userId: 'dan' }, cookie) ?? cookie
  updates.length = 0
  const regenerated = await post('/regenerate', undefined, cookie)
  t.ok(regenerated)
  t.match(updates, [{ create: true, user: 'dan' }], 'regenerate carries the binding to the new key')
})

t.test('device: recorded at creation, refreshed when it changes, off by default', async (t) => {
  const { store, updates } = recording()
  const app = await build({ store, device: true }, routes)
  t.teardown(() => app.close())
  const first = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 }, headers: { 'user-agent': 'Firefox' }, remoteAddress: '203.0.113.5' })
  t.same(updates.at(-1)?.device, { ip: '203.0.113.5', userAgent: 'Firefox' })
  const cookie = sessionCookie(first)?.header as string
  updates.length = 0
  await app.inject({ method: 'POST', url: '/set', payload: { a: 2 }, headers: { cookie, 'user-agent': 'Firefox' }, remoteAddress: '203.0.113.5' })
  t.equal(updates.at(-1)?.device, undefined, 'unchanged: not sent again')
  await app.inject({ method: 'POST', url: '/set', payload: { a: 3 }, headers: { cookie, 'user-agent': 'Chrome' }, remoteAddress: '203.0.113.5' })
  t.same(updates.at(-1)?.device, { ip: '203.0.113.5', userAgent: 'Chrome' }, 'changed: sent with the save')

  const plain = recording()
  const off = await build({ store: plain.store }, routes)
  t.teardown(() => off.close())
  await off.inject({ method: 'POST', url: '/set', payload: { a: 1 }, headers: { 'user-agent': 'Firefox' } })
  t.equal(plain.updates.at(-1)?.device, undefined, 'personal data: nothing recorded by default')

  const custom = recording()
  const labelled = await build({ store: custom.store, device: (request) => ({ label: String(request.headers['x-device'] ?? 'unknown') }) }, routes)
  t.teardown(() => labelled.close())
  await labelled.inject({ method: 'POST', url: '/set', payload: { a: 1 }, headers: { 'x-device': 'work laptop' } })
  t.same(custom.updates.at(-1)?.device, { label: 'work laptop' }, 'a function decides what is recorded')
})
