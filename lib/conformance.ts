import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import plugin from './plugin.ts'
import type { FastifyLazySessionOptions } from './options.ts'
import type { CookieStore } from './stores/CookieStore.ts'
import type { Session } from './Session.ts'
import { handleOf } from './signing.ts'
import type { SessionInfo, SessionStore, SessionUpdate } from './types.ts'

/** How to make the store under test. */
export interface ConformanceOptions {
  /** A new store for one case. */
  createStore (): SessionStore | CookieStore | Promise<SessionStore | CookieStore>
  /** Called after each case with its store, e.g. to quit a client the test owns. */
  closeStore? (store: SessionStore | CookieStore): void | Promise<void>
  /**
   * The store keeps the session in the cookie (like CookieStore): the cases that need server state
   * (revoking a copied cookie, merging concurrent changes, store-level calls) are left out.
   * @default false
   */
  clientSide?: boolean
  /**
   * Milliseconds the expiry cases wait at most for a session saved with a 1-second TTL to be gone.
   * @default 5000
   */
  expiryWait?: number
}

/** One case: run it in any test runner; it throws (node:assert) when the store does not conform. */
export interface ConformanceCase {
  name: string
  run (): Promise<void>
}

export const CONFORMANCE_SECRET = 'conformance-secret-at-least-32-characters'

/** The `name=value` of the session cookie a response sets, `''` for a deletion cookie, `undefined` when it sets none. */
export function sessionCookie (response: LightMyRequestResponse, name = '__Host-session'): { header: string, value: string, attributes: string } | undefined {
  const raw = response.headers['set-cookie']
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  for (const line of list) {
    const pair = line.split(';', 1)[0] as string
    if (pair.startsWith(name + '=')) {
      const value = pair.slice(name.length + 1)
      return { header: pair, value, attributes: line.slice(pair.length) }
    }
  }
  return undefined
}

/** A promise with its resolve function, to hold a request at a known point. */
function gate (): { promise: Promise<void>, open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => { open = resolve })
  return { promise, open }
}

/** A store that counts the calls it passes on to the real one. */
function counting (store: SessionStore): { store: SessionStore, calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    store: {
      load: async (id) => { calls.push('load'); return await store.load(id) },
      save: async (id, update) => { calls.push('save'); return await store.save(id, update) },
      destroy: async (id) => { calls.push('destroy'); return await store.destroy(id) }
    }
  }
}

type Options = Omit<FastifyLazySessionOptions, 'secret'>

interface Hold { loaded: () => void, release: Promise<void>, then: HeldAction }
/** What a held request does once it is let go. */
type HeldAction = (session: Session, key: string) => unknown
/** Requests to /held, by their `x-hold` header: each sets that key once `during` has run. */
const holds = new Map<string, Hold>()

/**
 * Runs `during` while a request that has loaded the session is held; then lets it go on with `then`
 * (by default: set `key`) and finish. Resolves with that request's response.
 */
async function whileHeld (fastify: FastifyInstance, cookie: string, key: string, during: () => Promise<void>, then: HeldAction = (session) => session.set(key, true)): Promise<LightMyRequestResponse> {
  const loaded = gate()
  const release = gate()
  holds.set(key, { loaded: loaded.open, release: release.promise, then })
  try {
    const held = fastify.inject({ method: 'POST', url: '/held', headers: { cookie, 'x-hold': key } })
    await loaded.promise
    await during()
    release.open()
    return await held
  } finally {
    holds.delete(key)
  }
}

/** An app with routes that exercise the session API through query parameters. */
async function app (store: SessionStore | CookieStore, options: Options = {}): Promise<FastifyInstance> {
  // Session keys such as `__proto__` must reach the store to be tested: the body parser keeps them.
  const fastify = Fastify({ onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' })
  await fastify.register(plugin, { secret: CONFORMANCE_SECRET, store, ...options })
  fastify.get('/none', async () => 'none')
  fastify.get('/get', async (request) => {
    const session = await request.loadSession()
    return { id: session.id, reason: session.reason, isNew: session.isNew, data: session.data() }
  })
  fastify.post('/set', async (request) => {
    const session = await request.loadSession()
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) session.set(key, value)
    return { id: session.id }
  })
  fastify.post('/delete', async (request) => {
    const session = await request.loadSession()
    for (const key of request.body as string[]) session.delete(key)
    return 'ok'
  })
  fastify.post('/push', async (request) => {
    const session = await request.loadSession()
    const list = session.get('list') as unknown[]
    list.push(request.body)
    return 'ok'
  })
  fastify.post('/clear', async (request) => {
    (await request.loadSession()).clear()
    return 'ok'
  })
  fastify.post('/destroy', async (request) => {
    await (await request.loadSession()).destroy()
    return 'ok'
  })
  fastify.post('/held', async (request) => {
    const session = await request.loadSession()
    const key = request.headers['x-hold'] as string
    const hold = holds.get(key) as Hold
    hold.loaded()
    await hold.release
    await hold.then(session, key)
    return 'ok'
  })
  fastify.post('/regenerate', async (request) => {
    const session = await request.loadSession()
    await session.regenerate()
    return { id: session.id }
  })
  return fastify
}

async function withStore (options: ConformanceOptions, run: (store: SessionStore | CookieStore) => Promise<void>): Promise<void> {
  const store = await options.createStore()
  try {
    await run(store)
  } finally {
    await options.closeStore?.(store)
  }
}

async function withApp (store: SessionStore | CookieStore, options: Options, run: (fastify: FastifyInstance) => Promise<void>): Promise<void> {
  const fastify = await app(store, options)
  try {
    await run(fastify)
  } finally {
    await fastify.close()
  }
}

/** Creates a session holding `data`; resolves with the `Cookie` header that carries it. */
async function createSession (fastify: FastifyInstance, data: Record<string, unknown>): Promise<string> {
  const response = await fastify.inject({ method: 'POST', url: '/set', payload: data })
  assert.equal(response.statusCode, 200)
  return liveCookie(response).header
}

/** The session cookie a response sets (value `''` for a deletion); fails when it sets none. */
function setCookie (response: LightMyRequestResponse): { header: string, value: string, attributes: string } {
  const cookie = sessionCookie(response)
  assert.ok(cookie !== undefined, 'the response sets the session cookie')
  return cookie
}

/** The live session cookie a response sets; fails when it sets none or a deletion. */
function liveCookie (response: LightMyRequestResponse): { header: string, value: string, attributes: string } {
  const cookie = setCookie(response)
  assert.notEqual(cookie.value, '', 'the session cookie is live, not a deletion')
  return cookie
}

async function read (fastify: FastifyInstance, cookie: string): Promise<{ id: string | null, reason: string, isNew: boolean, data: Record<string, unknown> }> {
  const response = await fastify.inject({ url: '/get', headers: { cookie } })
  assert.equal(response.statusCode, 200)
  return response.json()
}

/** A store-level update with fresh times and a 60-second TTL. */
function storeUpdate (fields: Partial<SessionUpdate> = {}): SessionUpdate {
  const now = Date.now()
  return { create: true, replace: true, set: new Map([['a', '1']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: now + 60_000, ttl: 60, ...fields }
}

/** The handles `list` returns, sorted. */
async function handles (store: Required<Pick<SessionStore, 'list'>>, user: string): Promise<string[]> {
  return (await store.list(user)).map((info) => info.handle).sort()
}

/** Resolves once `load(key)` finds nothing, or fails after `wait` ms. */
async function gone (store: SessionStore, key: string, wait: number): Promise<void> {
  const until = Date.now() + wait
  while (await store.load(key) !== null) {
    assert.ok(Date.now() < until, `the session saved with a 1-second TTL is still there after ${wait} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * The cases every store must pass, through the plugin as users use it. Export for custom stores:
 * `for (const c of storeConformanceSuite({ createStore: () => new MyStore() })) t.test(c.name, c.run)`.
 */
export function storeConformanceSuite (options: ConformanceOptions): ConformanceCase[] {
  const cases: ConformanceCase[] = []
  const add = (name: string, run: (store: SessionStore | CookieStore) => Promise<void>): void => {
    cases.push({ name, run: () => withStore(options, run) })
  }
  const serverSide = (name: string, run: (store: SessionStore) => Promise<void>): void => {
    if (options.clientSide !== true) add(name, (store) => run(store as SessionStore))
  }
  type IndexedStore = SessionStore & Required<Pick<SessionStore, 'list' | 'revoke' | 'revokeAll'>>
  /** A case of the per-user index: run on stores that have `list`, `revoke` and `revokeAll` (all three or none). */
  const indexed = (name: string, run: (store: IndexedStore) => Promise<void>): void => {
    serverSide(`index: ${name}`, async (store) => {
      const methods = [store.list, store.revoke, store.revokeAll].filter((method) => typeof method === 'function').length
      assert.ok(methods === 0 || methods === 3, 'a store has all of list, revoke and revokeAll, or none of them')
      if (methods === 3) await run(store as IndexedStore)
    })
  }
  const expiryWait = options.expiryWait ?? 5000

  add('a session with data is stored and loaded again by its cookie', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { user: 'ada', n: 1 })
    const body = await read(fastify, cookie)
    assert.equal(body.reason, 'loaded')
    assert.equal(body.isNew, false)
    assert.equal(typeof body.id, 'string')
    assert.deepEqual(body.data, { user: 'ada', n: 1 })
  }))

  add('values round-trip unchanged: nested, unicode, __proto__ and constructor keys', (store) => withApp(store, {}, async (fastify) => {
    const data = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"x":1},"ключ 🔑":"значение ✓","nested":{"a":[1,2,{"b":null}],"s":"\\"quoted\\"\\n"},"big":' + JSON.stringify('x'.repeat(500)) + '}')
    const cookie = await createSession(fastify, data)
    const body = await read(fastify, cookie)
    // Key order is not part of the contract (a Redis hash does not keep it); `__proto__` stays an own key.
    assert.deepStrictEqual(body.data, data)
    assert.ok(Object.hasOwn(body.data, '__proto__'))
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  }))

  add('a request that does not load the session sends no cookie', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1 })
    const response = await fastify.inject({ url: '/none', headers: { cookie } })
    assert.equal(response.body, 'none')
    assert.equal(response.headers['set-cookie'], undefined)
  }))

  add('a loaded, unchanged session sends no cookie', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1 })
    const response = await fastify.inject({ url: '/get', headers: { cookie } })
    assert.equal(response.headers['set-cookie'], undefined)
  }))

  add('a new session left empty stores nothing and sends no cookie', (store) => withApp(store, { rolling: true, lifetime: 60 }, async (fastify) => {
    const response = await fastify.inject({ url: '/get' })
    assert.equal(response.json().reason, 'new')
    assert.equal(response.headers['set-cookie'], undefined)
  }))

  add('a nested mutation of a value that was read is saved', (store) => withApp(store, {}, async (fastify) => {
    let cookie = await createSession(fastify, { list: [1] })
    const response = await fastify.inject({ method: 'POST', url: '/push', payload: { two: 2 }, headers: { cookie } })
    cookie = sessionCookie(response)?.header ?? cookie
    assert.deepEqual((await read(fastify, cookie)).data, { list: [1, { two: 2 }] })
  }))

  add('delete removes one key and keeps the others', (store) => withApp(store, {}, async (fastify) => {
    let cookie = await createSession(fastify, { a: 1, b: 2 })
    const response = await fastify.inject({ method: 'POST', url: '/delete', payload: ['a'], headers: { cookie } })
    cookie = sessionCookie(response)?.header ?? cookie
    assert.deepEqual((await read(fastify, cookie)).data, { b: 2 })
  }))

  add('an emptied session is removed and its cookie deleted', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1, b: 2 })
    for (const [url, payload] of [['/delete', ['a', 'b']], ['/clear', undefined]] as const) {
      const live = url === '/delete' ? cookie : await createSession(fastify, { a: 1 })
      const response = await fastify.inject({ method: 'POST', url, payload, headers: { cookie: live } })
      assert.equal(setCookie(response).value, '', url)
      // A client-side store cannot revoke a copy of the old cookie; a server-side one has removed the session.
      if (options.clientSide !== true) assert.deepEqual((await read(fastify, live)).data, {})
    }
  }))

  add('destroy clears the cookie in the same response', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1 })
    const response = await fastify.inject({ method: 'POST', url: '/destroy', headers: { cookie } })
    assert.equal(setCookie(response).value, '')
    assert.match(String(response.headers['set-cookie']), /Expires=Thu, 01 Jan 1970/)
  }))

  add('regenerate gives a new ID and keeps the data', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { user: 'ada' })
    const before = await read(fastify, cookie)
    const response = await fastify.inject({ method: 'POST', url: '/regenerate', headers: { cookie } })
    const fresh = liveCookie(response)
    assert.notEqual(response.json().id, before.id)
    const after = await read(fastify, fresh.header)
    assert.equal(after.id, response.json().id)
    assert.deepEqual(after.data, { user: 'ada' })
  }))

  add('a tampered cookie gives a fresh session with reason "invalid", never an error', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1 })
    // Another character in place of the last one, whatever it was.
    const tampered = cookie.slice(0, -1) + String.fromCharCode((cookie.charCodeAt(cookie.length - 1) ^ 1))
    for (const bad of [tampered, cookie.slice(0, -5), '__Host-session=garbage', '__Host-session=' + 'x'.repeat(5000)]) {
      const body = await read(fastify, bad)
      assert.equal(body.reason, 'invalid', bad)
      assert.deepEqual(body.data, {})
    }
  }))

  add('rolling: every response that loaded the session sends Max-Age=lifetime', (store) => withApp(store, { rolling: true, lifetime: 3600 }, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1 })
    const response = await fastify.inject({ url: '/get', headers: { cookie } })
    assert.match(liveCookie(response).attributes, /Max-Age=3600/)
    assert.deepEqual(response.json().data, { a: 1 })
  }))

  add('fixed lifetime: Max-Age is the time remaining since creation', (store) => withApp(store, { lifetime: 3600 }, async (fastify) => {
    const response = await fastify.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
    const maxAge = Number((/Max-Age=(\d+)/.exec(liveCookie(response).attributes) as RegExpExecArray)[1])
    assert.ok(maxAge > 3590 && maxAge <= 3600, `Max-Age ${maxAge}`)
  }))

  for (const timeouts of [{ lifetime: 60 }, { idleTimeout: 60 }, { absoluteTimeout: 60, rolling: true, lifetime: 3600 }]) {
    add(`${Object.keys(timeouts)[0] as string} is enforced by the server, whatever the client keeps`, (store) => withApp(store, timeouts, async (fastify) => {
      const cookie = await createSession(fastify, { a: 1 })
      assert.equal((await read(fastify, cookie)).reason, 'loaded')
      // A minute later by the plugin's clock; the store may still hold the session or may have dropped it.
      const realNow = Date.now
      const later = realNow() + 61_000
      Date.now = () => later
      try {
        const body = await read(fastify, cookie)
        assert.ok(['expired', 'not-found'].includes(body.reason), `${JSON.stringify(timeouts)}: ${body.reason}`)
        assert.deepEqual(body.data, {})
      } finally {
        Date.now = realNow
      }
    }))
  }

  serverSide('destroy removes the session: the old cookie no longer loads it', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1 })
    await fastify.inject({ method: 'POST', url: '/destroy', headers: { cookie } })
    const body = await read(fastify, cookie)
    assert.equal(body.reason, 'not-found')
    assert.deepEqual(body.data, {})
  }))

  serverSide('regenerate removes the old ID from the store', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { user: 'ada' })
    await fastify.inject({ method: 'POST', url: '/regenerate', headers: { cookie } })
    assert.equal((await read(fastify, cookie)).reason, 'not-found')
  }))

  serverSide('a route that never loads the session does no store I/O', async (store) => {
    const counted = counting(store)
    await withApp(counted.store, {}, async (fastify) => {
      const cookie = await createSession(fastify, { a: 1 })
      counted.calls.length = 0
      await fastify.inject({ url: '/none', headers: { cookie } })
      assert.deepEqual(counted.calls, [])
      await fastify.inject({ url: '/get', headers: { cookie } })
      assert.deepEqual(counted.calls, ['load'], 'an unchanged session is loaded once and not written')
      counted.calls.length = 0
      await fastify.inject({ method: 'POST', url: '/destroy', headers: { cookie } })
      assert.deepEqual(counted.calls, ['load', 'destroy'], 'a destroy is one store call after the load')
    })
  })

  serverSide('two concurrent requests that change different keys both keep their change', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { base: 0 })
    await whileHeld(fastify, cookie, 'slow', async () => {
      await fastify.inject({ method: 'POST', url: '/set', payload: { fast: true }, headers: { cookie } })
    })
    assert.deepEqual((await read(fastify, cookie)).data, { base: 0, fast: true, slow: true })
  }))

  serverSide('a request in flight when another destroys the session does not bring it back', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1 })
    const response = await whileHeld(fastify, cookie, 'late', async () => {
      await fastify.inject({ method: 'POST', url: '/destroy', headers: { cookie } })
    })
    assert.equal(response.headers['set-cookie'], undefined, 'the late request sends no cookie: the logout already sent the deletion')
    assert.equal((await read(fastify, cookie)).reason, 'not-found')
  }))

  serverSide('two requests that delete different keys leave no empty session behind', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { a: 1, b: 2 })
    const response = await whileHeld(fastify, cookie, 'a', async () => {
      await fastify.inject({ method: 'POST', url: '/delete', payload: ['b'], headers: { cookie } })
    }, (session) => session.delete('a'))
    assert.equal(response.headers['set-cookie'], undefined, 'the last save cannot tell this from a logout elsewhere: no cookie (the dead one is harmless)')
    assert.equal((await read(fastify, cookie)).reason, 'not-found')
  }))

  serverSide('regenerate after a concurrent destroy does not bring the session back under a new ID', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { user: 'ada' })
    let afterRegenerate: unknown
    const response = await whileHeld(fastify, cookie, 'regen', async () => {
      await fastify.inject({ method: 'POST', url: '/destroy', headers: { cookie } })
    }, async (session) => {
      await session.regenerate()
      afterRegenerate = { id: session.id, data: session.data() }
    })
    assert.deepEqual(afterRegenerate, { id: null, data: {} }, 'the request goes on with a new, empty session')
    assert.equal(response.headers['set-cookie'], undefined, 'and sends no cookie (the logout already sent the deletion)')
  }))

  serverSide('two concurrent regenerates of one session do not fork it into two', (store) => withApp(store, {}, async (fastify) => {
    const cookie = await createSession(fastify, { user: 'ada' })
    let second: LightMyRequestResponse | undefined
    const first = await whileHeld(fastify, cookie, 'regen', async () => {
      second = await fastify.inject({ method: 'POST', url: '/regenerate', headers: { cookie } })
    }, (session) => session.regenerate())
    const winner = liveCookie(second as LightMyRequestResponse)
    assert.equal(first.headers['set-cookie'], undefined, 'the request that lost the race sends no cookie: the winner\'s stands')
    assert.deepEqual((await read(fastify, winner.header)).data, { user: 'ada' })
  }))

  serverSide('store: destroy resolves true when it removed a session, false when there was none', async (store) => {
    const id = 'conformance-session-id-destroyed1'
    const now = Date.now()
    await store.save(id, { create: true, replace: true, set: new Map([['a', '1']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 60 })
    assert.equal(await store.destroy(id), true)
    assert.equal(await store.destroy(id), false)
  })

  serverSide('store: a save that leaves no data removes the session and resolves false', async (store) => {
    const id = 'conformance-session-id-emptied01'
    const now = Date.now()
    const meta = { createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 60 }
    await store.save(id, { ...meta, create: true, replace: true, set: new Map([['a', '1']]), delete: [] })
    assert.equal(await store.save(id, { ...meta, create: false, replace: false, set: new Map(), delete: ['a'] }), false)
    assert.equal(await store.load(id), null)
  })

  serverSide('store: save without create on a missing session writes nothing and resolves false', async (store) => {
    const now = Date.now()
    const update = { create: false, replace: false, set: new Map([['a', '1']]), delete: [], createdAt: now, lastAccessAt: now, expiresAt: null, ttl: 60 }
    assert.equal(await store.save('conformance-missing-session-id-000', update), false)
    assert.equal(await store.load('conformance-missing-session-id-000'), null)
  })

  serverSide('store: create, change, replace and destroy keep exactly the keys they should', async (store) => {
    const id = 'conformance-session-id-0000000001'
    const now = Date.now()
    const meta = { createdAt: now, lastAccessAt: now, expiresAt: now + 60_000, ttl: 60 }
    assert.equal(await store.save(id, { ...meta, create: true, replace: true, set: new Map([['a', '1'], ['b', '2']]), delete: [] }), true)
    assert.equal(await store.save(id, { ...meta, create: false, replace: false, set: new Map([['c', '3']]), delete: ['a'] }), true)
    let record = await store.load(id)
    assert.ok(record !== null)
    assert.deepEqual([...record.data].sort(), [['b', '2'], ['c', '3']])
    assert.equal(record.createdAt, now)
    assert.equal(record.expiresAt, now + 60_000)
    assert.equal(await store.save(id, { ...meta, lastAccessAt: now + 5, create: false, replace: true, set: new Map([['d', '4']]), delete: [] }), true)
    record = await store.load(id)
    assert.ok(record !== null)
    assert.deepEqual([...record.data], [['d', '4']])
    assert.equal(record.lastAccessAt, now + 5)
    await store.destroy(id)
    assert.equal(await store.load(id), null)
    await store.destroy(id)
  })

  serverSide('store: maxAge, user and device round-trip; undefined leaves them unchanged, null clears them', async (store) => {
    const key = 'conformance-session-key-fields001'
    const device = { ip: '203.0.113.7', userAgent: 'Conformance/1.0', label: 'laptop' }
    assert.equal(await store.save(key, storeUpdate({ handle: handleOf(key), maxAge: 3_600_000, user: 'conformance-user', device })), true)
    let record = await store.load(key)
    assert.ok(record !== null)
    assert.equal(record.maxAge, 3_600_000)
    assert.equal(record.user, 'conformance-user')
    assert.deepEqual(record.device, device)
    assert.equal(await store.save(key, storeUpdate({ create: false, replace: false, set: new Map([['b', '2']]) })), true)
    record = await store.load(key)
    assert.ok(record !== null)
    assert.deepEqual([record.maxAge, record.user, record.device], [3_600_000, 'conformance-user', device], 'a save without them keeps them')
    assert.equal(await store.save(key, storeUpdate({ create: false, replace: false, maxAge: null, user: null, device: null })), true)
    record = await store.load(key)
    assert.ok(record !== null)
    assert.deepEqual([record.maxAge ?? null, record.user ?? null, record.device ?? null], [null, null, null], 'null clears them')
    assert.deepEqual([...record.data].sort(), [['a', '1'], ['b', '2']])
    await store.destroy(key)
  })

  indexed('list shows exactly the live sessions bound to a user, with their times and device', async (store) => {
    const now = Date.now()
    const device = { ip: '198.51.100.1', userAgent: 'Conformance/2.0' }
    const sessions = [['conformance-index-key-000000000a1', 'conformance-ada'], ['conformance-index-key-000000000a2', 'conformance-ada'],
      ['conformance-index-key-000000000b1', 'conformance-bob'], ['conformance-index-key-000000000n1', undefined]] as const
    for (const [i, [key, user]] of sessions.entries()) {
      assert.equal(await store.save(key, storeUpdate({ handle: handleOf(key), user, device, createdAt: now - 1000 * i, lastAccessAt: now - 100 * i, expiresAt: now + 60_000 + i })), true)
    }
    const ada = await store.list('conformance-ada')
    assert.deepEqual(ada.map((info) => info.handle).sort(), [handleOf(sessions[0][0]), handleOf(sessions[1][0])].sort())
    const first = ada.find((info) => info.handle === handleOf(sessions[1][0])) as SessionInfo
    assert.deepEqual({ ...first }, { handle: handleOf(sessions[1][0]), createdAt: now - 1000, lastAccessAt: now - 100, expiresAt: now + 60_001, device })
    assert.deepEqual(await handles(store, 'conformance-bob'), [handleOf(sessions[2][0])])
    assert.deepEqual(await store.list('conformance-nobody'), [])
    for (const [key] of sessions) await store.destroy(key)
    assert.deepEqual(await store.list('conformance-ada'), [], 'destroy removes the index entries')
    assert.deepEqual(await store.list('conformance-bob'), [])
  })

  indexed('rebinding moves a session to the new user, unbinding removes it, an unrelated save keeps the binding', async (store) => {
    const [one, two] = ['conformance-index-key-00000rebind1', 'conformance-index-key-00000rebind2']
    await store.save(one, storeUpdate({ handle: handleOf(one), user: 'conformance-ada' }))
    await store.save(two, storeUpdate({ handle: handleOf(two), user: 'conformance-ada' }))
    await store.save(one, storeUpdate({ create: false, replace: false, set: new Map([['x', '1']]), handle: handleOf(one) }))
    assert.deepEqual(await handles(store, 'conformance-ada'), [handleOf(one), handleOf(two)].sort(), 'a save with user undefined keeps the binding')
    await store.save(one, storeUpdate({ create: false, replace: false, handle: handleOf(one), user: 'conformance-bob' }))
    assert.deepEqual(await handles(store, 'conformance-ada'), [handleOf(two)])
    assert.deepEqual(await handles(store, 'conformance-bob'), [handleOf(one)])
    assert.equal((await store.load(one))?.user, 'conformance-bob')
    await store.save(two, storeUpdate({ create: false, replace: false, handle: handleOf(two), user: null }))
    assert.deepEqual(await store.list('conformance-ada'), [])
    assert.ok(await store.load(two), 'unbinding keeps the session')
    await store.destroy(one)
    await store.destroy(two)
  })

  indexed('revoke ends exactly the session named, of that user only', async (store) => {
    const [one, two] = ['conformance-index-key-00000revoke1', 'conformance-index-key-00000revoke2']
    await store.save(one, storeUpdate({ handle: handleOf(one), user: 'conformance-ada' }))
    await store.save(two, storeUpdate({ handle: handleOf(two), user: 'conformance-ada' }))
    assert.equal(await store.revoke('conformance-bob', handleOf(one)), false, 'not a session of that user')
    assert.ok(await store.load(one))
    assert.equal(await store.revoke('conformance-ada', handleOf(one)), true)
    assert.equal(await store.load(one), null)
    assert.ok(await store.load(two))
    assert.deepEqual(await handles(store, 'conformance-ada'), [handleOf(two)])
    assert.equal(await store.revoke('conformance-ada', handleOf(one)), false, 'already revoked')
    assert.equal(await store.revoke('conformance-ada', 'no-such-handle'), false)
    await store.destroy(two)
  })

  indexed('revokeAll ends every session of the user but the one excepted, and counts them', async (store) => {
    const keys = [1, 2, 3].map((n) => `conformance-index-key-0000revokeall${n}`)
    for (const key of keys) await store.save(key, storeUpdate({ handle: handleOf(key), user: 'conformance-ada' }))
    const other = 'conformance-index-key-0000revokeallb'
    await store.save(other, storeUpdate({ handle: handleOf(other), user: 'conformance-bob' }))
    assert.equal(await store.revokeAll('conformance-ada', handleOf(keys[0] as string)), 2)
    assert.ok(await store.load(keys[0] as string), 'the excepted session stays')
    assert.equal(await store.load(keys[1] as string), null)
    assert.equal(await store.load(keys[2] as string), null)
    assert.ok(await store.load(other), 'other users keep theirs')
    assert.deepEqual(await handles(store, 'conformance-ada'), [handleOf(keys[0] as string)])
    assert.equal(await store.revokeAll('conformance-ada'), 1)
    assert.equal(await store.load(keys[0] as string), null)
    assert.deepEqual(await store.list('conformance-ada'), [])
    assert.equal(await store.revokeAll('conformance-ada'), 0)
    await store.destroy(other)
  })

  indexed('a save that leaves no data removes the index entry', async (store) => {
    const key = 'conformance-index-key-0000000empty'
    await store.save(key, storeUpdate({ handle: handleOf(key), user: 'conformance-ada' }))
    assert.deepEqual(await handles(store, 'conformance-ada'), [handleOf(key)])
    assert.equal(await store.save(key, storeUpdate({ create: false, replace: false, set: new Map(), delete: ['a'] })), false)
    assert.deepEqual(await store.list('conformance-ada'), [])
  })

  indexed('a session that expires leaves the index', async (store) => {
    const [short, long] = ['conformance-index-key-00000expires', 'conformance-index-key-00000staying']
    await store.save(short, storeUpdate({ handle: handleOf(short), user: 'conformance-ada', ttl: 1, expiresAt: Date.now() + 1000 }))
    await store.save(long, storeUpdate({ handle: handleOf(long), user: 'conformance-ada' }))
    assert.deepEqual(await handles(store, 'conformance-ada'), [handleOf(short), handleOf(long)].sort())
    await gone(store, short, expiryWait)
    assert.deepEqual(await handles(store, 'conformance-ada'), [handleOf(long)])
    assert.equal(await store.revoke('conformance-ada', handleOf(short)), false)
    assert.equal(await store.revokeAll('conformance-ada', handleOf(long)), 0)
    await store.destroy(long)
  })

  return cases
}
