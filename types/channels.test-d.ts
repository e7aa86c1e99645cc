import diagnostics from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import { channels, type SessionRefusedEvent, type SessionRegeneratedEvent, type SessionRevokedEvent, type StoreCallContext } from 'fastify-lazy-session'

expectType<'fastify-lazy-session:created'>(channels.created)
expectType<'fastify-lazy-session:store'>(channels.store)
expectError(channels.created = 'other')

diagnostics.subscribe(channels.refused, (message) => {
  const refused = message as SessionRefusedEvent
  expectType<'invalid' | 'expired' | 'not-found' | 'revoked'>(refused.reason)
  expectType<string | null>(refused.handle)
  expectType<FastifyRequest | null>(refused.request)
  expectType<string>(refused.store)
})

declare const regenerated: SessionRegeneratedEvent
expectType<string>(regenerated.oldHandle)
expectType<string>(regenerated.handle)
declare const revoked: SessionRevokedEvent
expectType<'revoke' | 'revoke-all' | 'max-sessions'>(revoked.reason)
expectType<number>(revoked.count)

const store = diagnostics.tracingChannel<unknown, StoreCallContext>(channels.store)
store.subscribe({
  start (context) { expectType<'load' | 'save' | 'destroy' | 'list' | 'revoke' | 'revokeAll' | 'revoked'>(context.operation) },
  end () {},
  asyncStart () {},
  asyncEnd (context) { expectAssignable<boolean | number | undefined>(context.result) },
  error (context) { expectType<unknown>(context.error) }
})
