import t from 'tap'
import { createHmac } from 'node:crypto'
import { Writable } from 'node:stream'
import { MemoryStore, type SessionStore } from '../lib/index.ts'
import { generateId, IdSigner, storeKeyOf } from '../lib/signing.ts'
import { build, OLD_SECRET, SECRET, sessionCookie } from './fixtures/app.ts'

t.test('session IDs are 192 random bits, base64url, never repeated', async (t) => {
  const ids = new Set<string>()
  for (let i = 0; i < 2000; i++) ids.add(generateId())
  t.equal(ids.size, 2000)
  for (const id of [...ids].slice(0, 20)) {
    t.match(id, /^[A-Za-z0-9_-]{32}$/)
    t.equal(Buffer.from(id, 'base64url').length, 24)
  }
})

t.test('the cookie carries the ID signed with HMAC-SHA256', async (t) => {
  const signer = new IdSigner([SECRET])
  const id = generateId()
  const value = signer.sign(id)
  t.same(signer.verify(value), { id, stale: false, key: storeKeyOf(id) })
  // Computed here with node:crypto, not by the library: a different hash (e.g. SHA-512 cut to 32 bytes) fails this.
  t.equal(value, id + '.' + createHmac('sha256', SECRET).update(id).digest('base64url'))
  const fixed = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  t.equal(signer.sign(fixed), fixed + '.' + createHmac('sha256', SECRET).update(fixed).digest('base64url'))
  t.equal(new IdSigner([OLD_SECRET]).verify(value), null, 'another secret does not verify it')
  const [, signature] = value.split('.') as [string, string]
  // A signature re-encoded as standard base64 decodes to the same bytes and is still refused.
  let urlSafe = value
  while (!/[-_]/.test(urlSafe.split('.')[1] as string)) urlSafe = signer.sign(generateId())
  const [urlSafeId, urlSafeSignature] = urlSafe.split('.') as [string, string]
  const standardBase64 = Buffer.from(urlSafeSignature, 'base64url').toString('base64').replace(/=+$/, '')
  t.not(standardBase64, urlSafeSignature)
  for (const bad of [
    urlSafeId + '.' + standardBase64,
    value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A'),
    value.slice(0, -1) + (value.endsWith('w') ? 'x' : 'w'),
    id,
    id + '.',
    '.' + signature,
    id.replace(/^./, '*') + '.' + signature,
    value + 'A',
    value.replace('.', '!'),
    ''
  ]) {
    t.equal(signer.verify(bad), null, JSON.stringify(bad))
  }
})

t.test('forged IDs never reach the store', async (t) => {
  const memory = new MemoryStore()
  const loads: string[] = []
  const store: SessionStore = { ...memory, load: (id) => { loads.push(id); return memory.load(id) }, save: memory.save.bind(memory), destroy: memory.destroy.bind(memory) }
  const app = await build({ store }, (app) => {
    app.get('/', async (request) => (await request.loadSession()).reason)
  })
  t.teardown(() => app.close())
  const forged = generateId() + '.' + Buffer.alloc(32).toString('base64url')
  for (const value of [forged, generateId(), '%00%0d%0a', '"quoted"', 'x'.repeat(10_000)]) {
    const cookie = '__Host-session=' + value
    const response = await app.inject({ url: '/', headers: { cookie } })
    t.equal(response.statusCode, 200)
    t.equal(response.body, 'invalid')
  }
  t.same(loads, [])
})

t.test('secret rotation: the first secret signs, every secret verifies, old cookies are re-signed', async (t) => {
  const routes = (app: import('fastify').FastifyInstance): void => {
    app.get('/', async (request) => {
      const session = await request.loadSession()
      if (session.isNew) session.set('user', 'ada')
      return { reason: session.reason, user: session.get('user') ?? null }
    })
  }
  const store = new MemoryStore()
  const oldApp = await build({ store, secret: OLD_SECRET }, routes)
  const oldCookie = sessionCookie(await oldApp.inject('/'))?.header as string
  await oldApp.close()

  const rotated = await build({ store, secret: [SECRET, OLD_SECRET] }, routes)
  t.teardown(() => rotated.close())
  const response = await rotated.inject({ url: '/', headers: { cookie: oldCookie } })
  t.same(response.json(), { reason: 'loaded', user: 'ada' })
  const resigned = sessionCookie(response)
  t.ok(resigned?.value, 'a cookie signed by an old secret is re-signed with the first')
  t.not(resigned?.header, oldCookie)
  t.equal(resigned?.value.split('.')[0], oldCookie.split('=')[1]?.split('.')[0], 'same session ID')
  t.equal((await rotated.inject({ url: '/', headers: { cookie: resigned?.header } })).headers['set-cookie'], undefined, 'a current cookie is not re-sent')

  const newOnly = await build({ store, secret: SECRET }, routes)
  t.teardown(() => newOnly.close())
  t.equal((await newOnly.inject({ url: '/', headers: { cookie: oldCookie } })).json().reason, 'invalid', 'a retired secret no longer verifies')
  t.same((await newOnly.inject({ url: '/', headers: { cookie: resigned?.header } })).json(), { reason: 'loaded', user: 'ada' })
})

t.test('session IDs and secrets never appear in logs or error responses', async (t) => {
  let logs = ''
  const stream = new Writable({ write (chunk, _encoding, callback) { logs += String(chunk); callback() } })
  const memory = new MemoryStore()
  let failing = false
  const store: SessionStore = {
    load: async (id) => { if (failing) throw new Error(`connection lost while reading sess:${id}`); return await memory.load(id) },
    save: async (id, update) => { if (failing) throw new Error(`cannot write sess:${id}`); return await memory.save(id, update) },
    destroy: async (id) => await memory.destroy(id)
  }
  const app = await build({ store, onStoreError: 'fail' }, (app) => {
    app.get('/', async (request) => {
      const session = await request.loadSession()
      session.set('n', 1)
      request.log.info({ session }, 'a handler logs the whole session')
      return 'ok'
    })
  }, { logger: { level: 'trace', stream } })
  t.teardown(() => app.close())
  const first = await app.inject('/')
  const cookie = sessionCookie(first)?.header as string
  const id = cookie.split('=')[1]?.split('.')[0] as string
  await app.inject({ url: '/', headers: { cookie: cookie.slice(0, -2) + 'xx' } })
  failing = true
  const failed = await app.inject({ url: '/', headers: { cookie } })
  t.equal(failed.statusCode, 503)
  t.notMatch(failed.body, id)
  t.ok(logs.length > 0)
  t.match(logs, /session cookie refused/)
  t.match(logs, /connection lost while reading sess:/, 'the store error is logged (as the cause)')
  t.notMatch(failed.body, /connection lost/, 'the store error never reaches the client')
  t.notMatch(logs, id, 'the store is called with a hash of the ID, so its errors cannot carry the ID')
  t.notMatch(logs, SECRET)
})

t.test('verified cookie values are remembered, never a value that failed, and the memory is bounded', async (t) => {
  const signer = new IdSigner([SECRET, OLD_SECRET])
  const value = signer.sign(generateId())
  const first = signer.verify(value)
  t.equal(signer.verify(value), first, 'the same value answers from memory')
  t.ok(Object.isFrozen(first), 'the remembered result cannot be changed by a caller')
  const forged = value.slice(0, -1) + String.fromCharCode(value.charCodeAt(value.length - 1) ^ 1)
  t.equal(signer.verify(forged), null)
  t.equal(signer.verify(forged), null, 'a value that failed is checked again, every time')
  const old = new IdSigner([OLD_SECRET]).sign(generateId())
  t.same(signer.verify(old), { id: old.slice(0, 32), stale: true, key: storeKeyOf(old.slice(0, 32)) })
  for (let i = 0; i < 10_050; i++) signer.verify(signer.sign(generateId()))
  t.not(signer.verify(value), first, 'the oldest values were forgotten…')
  t.same(signer.verify(value), first, '…and verify again')
})
