import t from 'tap'
import { build, sessionCookie } from './fixtures/app.ts'

t.test('a request with a skip header gets no session handling at all', async (t) => {
  const app = await build({ autoload: true, rolling: true, lifetime: 60, skipHeader: [{ name: 'X-Health-Check', value: '*' }, { name: 'x-client', value: 'bot' }] }, (app) => {
    app.get('/', async (request) => {
      const session = request.session
      const before = session.get('n') as number | undefined
      session.set('n', (before ?? 0) + 1)
      return { before: before ?? null, reason: session.reason }
    })
    app.post('/destroy', async (request) => { await request.session.destroy(); return 'ok' })
    app.post('/regenerate', async (request) => { await request.session.regenerate(); request.session.touch(); await request.session.save(); return 'ok' })
  })
  t.teardown(() => app.close())
  const cookie = sessionCookie(await app.inject('/'))?.header as string
  t.same((await app.inject({ url: '/', headers: { cookie } })).json(), { before: 1, reason: 'loaded' })

  for (const headers of [{ 'x-health-check': 'anything' }, { 'x-client': 'bot' }]) {
    const response = await app.inject({ url: '/', headers: { cookie, ...headers } })
    t.same(response.json(), { before: null, reason: 'new' }, 'the stored session is not read')
    t.equal(response.headers['set-cookie'], undefined, 'no cookie is written')
    for (const url of ['/destroy', '/regenerate']) {
      const r = await app.inject({ method: 'POST', url, headers: { cookie, ...headers } })
      t.equal(r.statusCode, 200)
      t.equal(r.headers['set-cookie'], undefined)
    }
  }
  const other = await app.inject({ url: '/', headers: { cookie, 'x-client': 'browser' } })
  t.same(other.json(), { before: 2, reason: 'loaded' }, 'a different value does not match, and the skipped requests changed nothing')
})
