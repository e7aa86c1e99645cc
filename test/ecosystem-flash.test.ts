// @fastify/flash on this plugin: it finds the `session` decorator at registration and reads the session with
// get/set; a message set before a 303 redirect is shown once on the next page, then gone. Every store.
import t from 'tap'
import Fastify from 'fastify'
import flash from '@fastify/flash'
import session from '../lib/index.ts'
import { CookieJar, SECRET, request, storeCases } from './fixtures/ecosystem.ts'

const stores = await storeCases(t)
for (const store of stores) {
  t.test(`${store.name}: a flash message survives one redirect, then is gone`, async (t) => {
    const app = Fastify()
    await app.register(session, { secret: SECRET, store: store.create(), autoload: true })
    await app.register(flash)
    app.post('/save', async (request, reply) => {
      request.flash('info', 'Saved.')
      request.flash('warning', 'Disk %s full', 'almost')
      return reply.redirect('/', 303)
    })
    app.get('/', async (request, reply) => ({ info: reply.flash('info'), warning: reply.flash('warning') }))
    await app.ready()
    t.teardown(() => app.close())
    const jar = new CookieJar()

    const saved = await request(app, jar, { method: 'POST', url: '/save' })
    t.equal(saved.statusCode, 303)
    t.equal(saved.headers.location, '/')
    t.ok(jar.header(), 'the messages went into a new session')

    const next = await request(app, jar, { url: '/' })
    t.equal(next.statusCode, 200)
    t.same(next.json(), { info: ['Saved.'], warning: ['Disk almost full'] }, 'shown on the next page')

    const again = await request(app, jar, { url: '/' })
    t.same(again.json(), { info: [], warning: [] }, 'and gone after that')
  })
}

t.test('a flash message read in the same request is not shown again', async (t) => {
  const app = Fastify()
  await app.register(session, { secret: SECRET, autoload: true })
  await app.register(flash)
  app.get('/', async (request, reply) => {
    request.flash('info', 'now')
    return { info: reply.flash('info') }
  })
  await app.ready()
  t.teardown(() => app.close())
  const jar = new CookieJar()
  t.same((await request(app, jar, { url: '/' })).json(), { info: ['now'] })
  t.same((await request(app, jar, { url: '/' })).json(), { info: ['now'] }, 'each request its own message, none left over')
})
