import t from 'tap'
import Fastify from 'fastify'
import flash from '@fastify/flash'
import plugin from '../lib/index.ts'
import { SECRET, sessionCookie } from './fixtures/app.ts'

t.test('the session request decorator exists as soon as the plugin is registered', async (t) => {
  const app = Fastify()
  await app.register(plugin, { secret: SECRET })
  t.teardown(() => app.close())
  t.equal(app.hasRequestDecorator('session'), true)
  t.equal(app.hasRequestDecorator('loadSession'), true)
  t.equal(app.hasRequestDecorator('sessionLoaded'), true)
})

t.test('@fastify/flash, which requires the session decorator, registers after it without await and works', async (t) => {
  const app = Fastify()
  app.register(plugin, { secret: SECRET, autoload: true })
  app.register(flash)
  app.post('/', async (request, reply) => {
    request.flash('info', 'signed in')
    return reply.redirect('/next', 303)
  })
  app.get('/next', async (_request, reply) => ({ info: reply.flash('info') }))
  t.teardown(() => app.close())
  const redirect = await app.inject({ method: 'POST', url: '/' })
  t.equal(redirect.statusCode, 303)
  const cookie = sessionCookie(redirect)?.header as string
  t.same((await app.inject({ url: '/next', headers: { cookie } })).json(), { info: ['signed in'] })
  t.same((await app.inject({ url: '/next', headers: { cookie } })).json(), { info: [] }, 'shown once')
})
