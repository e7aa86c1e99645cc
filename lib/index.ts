export { default, fastifyLazySession } from './plugin.ts'
import { Session as SessionClass, type SessionWithData } from './Session.ts'
import type { SessionData } from './types.ts'
/** One user's session (`request.session`); its class, for `instanceof`. */
export const Session = SessionClass
/** One user's session: the methods, and the data keys as properties typed by `SessionData`. */
export type Session<T extends SessionData = SessionData> = SessionWithData<T>
export type { SessionOptions } from './Session.ts'
export { MemoryStore, type MemoryStoreOptions } from './stores/MemoryStore.ts'
export { CookieStore, type CookieRevocationsClient, type CookieRevocationsOptions, type CookieStoreOptions } from './stores/CookieStore.ts'
export { RedisStore, type RedisStoreClient, type RedisStoreDurability, type RedisStoreOptions } from './stores/RedisStore.ts'
export { connectStore, type ConnectSession, type ConnectStoreLike, type ConnectStoreOptions } from './stores/connectStore.ts'
export type { MigrateFromOptions, MigrateFromStore } from './migrate.ts'
export { InvalidOptionError, SessionNotLoadedError, SessionStoreUnavailableError, SessionTooLargeError, SessionUnsupportedError, type SessionError, type SessionErrorConstructor } from './errors.ts'
export type { RevokeAllOptions, UserSessions } from './sessions.ts'
export type { FastifyLazySessionOptions, SessionCookieOptions, SkipHeader } from './options.ts'
export type { Serializer, SessionData, SessionDevice, SessionInfo, SessionReason, SessionRecord, SessionStore, SessionUpdate } from './types.ts'
export { handleOf, storeKeyOf } from './signing.ts'
export { channels } from './channels.ts'
export type {
  RefusedReason, RevokedReason, SessionEvent, SessionRefusedEvent, SessionRegeneratedEvent, SessionRevokedEvent, StoreCallContext, StoreOperation
} from './channels.ts'
