import t from 'tap'
import { build, sessionCookie } from './fixtures/app.ts'

t.test('get, set, delete, has, clear, keys and data behave like a map of copies', async (t) => {
  const app = await build({}, (app) => {
    app.post('/', async (request) => {
      const session = await request.loadSession()
      session.set('a', 1).set('b', { nested: [1] }).set('gone', 'x')
      t.equal(session.get('a'), 1)
      t.equal(session.has('gone'), true)
      session.delete('gone')
      t.equal(session.has('gone'), false)
      t.equal(session.get('gone'), undefined)
      session.set('undefined-deletes', 1)
      session.set('undefined-deletes', undefined)
      t.equal(session.has('undefined-deletes'), false)
      t.same(session.keys().sort(), ['a', 'b'])
      const copy = session.data()
      ;(copy.b as { nested: number[] }).nested.push(2)
      t.same(session.get('b'), { nested: [1] }, 'data() is a copy')
      t.same(JSON.parse(JSON.stringify(session)), { a: 1, b: { nested: [1] } }, 'toJSON gives the data, nothing private')
      t.throws(() => session.set(1 as unknown as string, 'x'), TypeError, 'keys are strings')
      return 'ok'
    })
    app.get('/', async (request) => {
      const session = await request.loadSession()
      const result = { keys: session.keys().sort(), hasA: session.has('a'), hasX: session.has('x'), x: session.get('x') ?? null, data: session.data() }
      session.delete('x')
      t.same(session.keys().sort(), result.keys, 'deleting a missing key changes nothing')
      return result
    })
    app.post('/delete-stored', async (request) => {
      const session = await request.loadSession()
      session.delete('a')
      t.equal(session.has('a'), false, 'a deleted stored key is gone')
      t.equal(session.get('a'), undefined)
      t.same(session.keys(), ['b'], 'and not listed')
      session.set('a', 'back').delete('a')
      t.equal(session.has('a'), false, 'set then deleted again')
      return session.keys()
    })
    app.post('/clear-then-set', async (request) => {
      const session = await request.loadSession()
      session.clear()
      t.same(session.keys(), [])
      t.equal(session.has('a'), false)
      t.equal(session.get('a'), undefined)
      session.delete('b')
      session.set('c', 3)
      return session.keys()
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/' }))?.header as string
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { keys: ['a', 'b'], hasA: true, hasX: false, x: null, data: { a: 1, b: { nested: [1] } } })
  t.same((await app.inject({ method: 'POST', url: '/delete-stored', headers: { cookie } })).json(), ['b'])
  t.same((await app.inject({ url: '/', headers: { cookie } })).json().data, { b: { nested: [1] } }, 'the deletion was saved')
  t.same((await app.inject({ method: 'POST', url: '/clear-then-set', headers: { cookie } })).json(), ['c'])
  t.same((await app.inject({ url: '/', headers: { cookie } })).json().data, { c: 3 }, 'clear() replaced the stored keys')
})

t.test('a value the serializer cannot represent fails the request with a clear error', async (t) => {
  const app = await build({}, (app) => {
    app.get('/', async (request) => { (await request.loadSession()).set('fn', () => 1); return 'ok' })
  })
  t.teardown(() => app.close())
  const response = await app.inject('/')
  t.equal(response.statusCode, 500)
  t.match(response.json().message, /"fn" cannot be serialized/)
})

t.test('a value read and then mutated into something unserializable fails the request and keeps the stored value', async (t) => {
  const app = await build({}, (app) => {
    app.post('/', async (request) => { (await request.loadSession()).set('obj', { a: 1 }); return 'ok' })
    app.get('/', async (request) => (await request.loadSession()).get('obj'))
    app.get('/break', async (request) => {
      const obj = (await request.loadSession()).get('obj') as Record<string, unknown>
      obj.big = 10n
      return 'changed'
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/' }))?.header as string
  const response = await app.inject({ url: '/break', headers: { cookie } })
  t.equal(response.statusCode, 500)
  t.match(response.json().message, /BigInt/)
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { a: 1 })
})

t.test('a custom serializer stores and reads every value through it', async (t) => {
  const seen: string[] = []
  const serializer = {
    serialize: (value: unknown) => { seen.push('serialize'); return 'v1:' + JSON.stringify(value) },
    deserialize: (text: string) => { seen.push('deserialize'); return JSON.parse(text.slice(3)) }
  }
  const app = await build({ serializer }, (app) => {
    app.get('/', async (request) => {
      const session = await request.loadSession()
      session.set('n', ((session.get('n') as number | undefined) ?? 0) + 1)
      return session.get('n')
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject('/'))?.header as string
  t.equal((await app.inject({ url: '/', headers: { cookie } })).body, '2')
  t.ok(seen.includes('serialize') && seen.includes('deserialize'))
})

t.test('typed access: get returns what set stored, for every JSON type', async (t) => {
  const values = [0, -1.5, '', 'text', true, false, null, [], {}, [1, 'a', null], { a: { b: { c: [] } } }]
  const app = await build({}, (app) => {
    app.post('/', async (request) => {
      const session = await request.loadSession()
      values.forEach((value, i) => session.set('k' + i, value))
      return 'ok'
    })
    app.get('/', async (request) => {
      const session = await request.loadSession()
      return values.map((_, i) => session.get('k' + i))
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/' }))?.header as string
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), values)
})
