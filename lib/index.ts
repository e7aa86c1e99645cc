export { default, fastifyLazySession } from './plugin.ts'
export { Session } from './Session.ts'
export { MemoryStore, type MemoryStoreOptions } from './stores/MemoryStore.ts'
export { CookieStore, type CookieRevocationsClient, type CookieRevocationsOptions, type CookieStoreOptions } from './stores/CookieStore.ts'
export { RedisStore, type RedisStoreClient, type RedisStoreDurability, type RedisStoreOptions } from './stores/RedisStore.ts'
export { InvalidOptionError, SessionNotLoadedError, SessionStoreUnavailableError, SessionTooLargeError, SessionUnsupportedError } from './errors.ts'
export type { RevokeAllOptions, UserSessions } from './sessions.ts'
export type { FastifyLazySessionOptions, SessionCookieOptions, SkipHeader } from './options.ts'
export type { Serializer, SessionData, SessionDevice, SessionInfo, SessionReason, SessionRecord, SessionStore, SessionUpdate } from './types.ts'
export { handleOf, storeKeyOf } from './signing.ts'
export { channels } from './channels.ts'
export type {
  RefusedReason, RevokedReason, SessionEvent, SessionRefusedEvent, SessionRegeneratedEvent, SessionRevokedEvent, StoreCallContext, StoreOperation
} from './channels.ts'
