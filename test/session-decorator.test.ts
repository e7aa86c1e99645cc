import t from 'tap'
import { createRequire } from 'node:module'
import Fastify, { type FastifyPluginCallback } from 'fastify'
import plugin from '../lib/index.ts'
import { SECRET, sessionCookie } from './fixtures/app.ts'

// Loaded without its types: they augment @fastify/secure-session's `request.session`, which clashes with ours.
const flash = createRequire(import.meta.url)('@fastify/flash') as FastifyPluginCallback
type Flash = { flash: (type: string, message?: string) => unknown }

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
    ;(request as unknown as Flash).flash('info', 'signed in')
    return reply.redirect('/next', 303)
  })
  app.get('/next', async (_request, reply) => ({ info: (reply as unknown as Flash).flash('info') }))
  t.teardown(() => app.close())
  const redirect = await app.inject({ method: 'POST', url: '/' })
  t.equal(redirect.statusCode, 303)
  const cookie = sessionCookie(redirect)?.header as string
  t.same((await app.inject({ url: '/next', headers: { cookie } })).json(), { info: ['signed in'] })
  t.same((await app.inject({ url: '/next', headers: { cookie } })).json(), { info: [] }, 'shown once')
})
