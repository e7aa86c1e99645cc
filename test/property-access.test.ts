import t from 'tap'
import { Session } from '../lib/index.ts'
import { build, sessionCookie } from './fixtures/app.ts'

type Bag = Record<string, unknown>

t.test('property access reads, writes, deletes, tests and lists the data keys, and the changes are saved', async (t) => {
  const app = await build({}, (app) => {
    app.post('/', async (request) => {
      const session = await request.loadSession() as unknown as Bag
      session.user = 'ada'
      session.cart = [1, 2]
      session.gone = 'x'
      delete session.gone
      session.unset = 1
      session.unset = undefined
      t.equal(session.user, 'ada')
      t.equal('user' in session, true)
      t.equal('gone' in session, false)
      t.equal('unset' in session, false, 'assigning undefined deletes')
      t.same(Object.keys(session).sort(), ['cart', 'user'], 'data keys only')
      t.equal(request.session.get('user'), 'ada', 'the same session as get()')
      return 'ok'
    })
    app.get('/', { config: { session: { autoload: true } } }, async (request) => {
      const session = request.session as unknown as Bag
      return { user: session.user, cart: session.cart, missing: session.missing ?? null, keys: Object.keys(session).sort(), spread: { ...session } }
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/' }))?.header as string
  t.ok(cookie, 'a session written by property access is stored')
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), {
    user: 'ada', cart: [1, 2], missing: null, keys: ['cart', 'user'], spread: { user: 'ada', cart: [1, 2] }
  })
})

t.test('property writes and nested changes survive to the next request', async (t) => {
  const app = await build({ autoload: true }, (app) => {
    app.post('/start', async (request) => {
      const session = request.session as unknown as Bag
      session.oauth = { state: null }
      return 'ok'
    })
    app.post('/state', async (request) => {
      const session = request.session as unknown as { oauth: { state: string | null } }
      session.oauth.state = 'xyz'
      return 'ok'
    })
    app.post('/logout', async (request) => {
      const session = request.session as unknown as Bag
      delete session.oauth
      return 'ok'
    })
    app.get('/', async (request) => {
      const session = request.session as unknown as Bag
      return { oauth: session.oauth ?? null, has: 'oauth' in session, keys: Object.keys(session), json: JSON.parse(JSON.stringify(session)) }
    })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/start' }))?.header as string
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { oauth: { state: null }, has: true, keys: ['oauth'], json: { oauth: { state: null } } })
  await app.inject({ method: 'POST', url: '/state', headers: { cookie } })
  t.same((await app.inject({ url: '/', headers: { cookie } })).json().oauth, { state: 'xyz' }, 'the nested change was saved')
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
  t.equal(sessionCookie(logout)?.value, '', 'deleting the last key empties the session: its cookie is deleted')
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { oauth: null, has: false, keys: [], json: {} })
})

t.test('a data key that collides with a Session member throws a TypeError naming set(); members stay members', async (t) => {
  const app = await build({ autoload: true }, (app) => {
    app.get('/', async (request) => {
      const session = request.session as unknown as Bag
      for (const member of ['get', 'set', 'id', 'regenerate', 'options', 'toString', 'then']) {
        t.throws(() => { session[member] = 1 }, { name: 'TypeError', message: new RegExp(`"${member}" is a member of Session.*session\\.set\\("${member}", value\\)`) }, member)
        t.throws(() => { delete session[member] }, { name: 'TypeError', message: new RegExp(`session\\.delete\\("${member}"\\)`) })
      }
      t.throws(() => { session[Symbol('s') as unknown as string] = 1 }, { name: 'TypeError', message: /data keys are strings: use session\.set\(key, value\)/ })
      t.throws(() => { delete session[Symbol('s') as unknown as string] }, { name: 'TypeError', message: /session\.delete\(key\)/ })
      t.throws(() => Object.defineProperty(session, 'x', { get: () => 1 }), { name: 'TypeError', message: /session\.set\(key, value\)/ })
      Object.defineProperty(session, 'defined', { value: 'by defineProperty', enumerable: true, configurable: true, writable: true })
      request.session.set('get', 'stored with set()')
      t.equal(request.session.get('get'), 'stored with set()', 'a member-named key works through get()/set()')
      t.type(session.get, 'function', 'and the member wins for property access')
      t.equal(session.then, undefined, 'a session is never a thenable')
      t.equal('get' in session, true)
      t.equal('then' in session, false)
      t.equal(Object.getOwnPropertyDescriptor(session, 'missing'), undefined)
      t.equal(Object.getOwnPropertyDescriptor(session, Symbol.iterator), undefined)
      t.equal(Symbol.iterator in session, false)
      t.equal(session instanceof Session, true)
      t.equal(Object.prototype.hasOwnProperty.call(session, 'defined'), true)
      t.equal(String(session), '[object Object]')
      t.equal(typeof session.id, 'object', 'id (null for a new session) is read from the session')
      return { defined: session.defined, keys: Object.keys(session).sort() }
    })
  })
  t.teardown(() => app.close())
  t.same((await app.inject('/')).json(), { defined: 'by defineProperty', keys: ['defined', 'get'] })
})

t.test('methods called through the session chain on it, and each method is the same function every time', async (t) => {
  const app = await build({ autoload: true }, (app) => {
    app.get('/', async (request) => {
      const session = request.session
      const chained = session.set('a', 1).set('b', 2) as unknown as Bag
      chained.c = 3
      t.equal(session.set, session.set, 'bound once per session')
      t.equal(await request.loadSession(), session, 'loadSession() resolves with the same object as request.session')
      t.equal(session.toJSON, session.toJSON)
      return session.data()
    })
  })
  t.teardown(() => app.close())
  t.same((await app.inject('/')).json(), { a: 1, b: 2, c: 3 })
})
