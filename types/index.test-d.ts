import Fastify, { type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import session, {
  CookieStore, MemoryStore, RedisStore, Session, SessionNotLoadedError, SessionStoreUnavailableError, SessionUnsupportedError,
  type SessionInfo, type SessionRecord, type SessionStore, type SessionUpdate
} from 'fastify-lazy-session'
import { storeConformanceSuite, type ConformanceCase } from 'fastify-lazy-session/conformance'

declare module 'fastify-lazy-session' {
  interface SessionData {
    userId: string
    visits: number
  }
}

const app = Fastify()
await app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long' })
await app.register(session, {
  secret: ['new-secret-at-least-32-characters-long', 'old-secret-still-accepted-32-chars'],
  store: new MemoryStore({ maxSessions: 10 }),
  lifetime: 3600,
  rolling: true,
  idleTimeout: 600,
  absoluteTimeout: 86400,
  autoload: ['/admin', /^\/app\//],
  cookie: { name: '__Host-sid', path: '/', sameSite: 'strict', secure: true, httpOnly: true, partitioned: false },
  serializer: { serialize: JSON.stringify, deserialize: JSON.parse },
  skipHeader: [{ name: 'x-health', value: '*' }],
  onStoreError: 'fresh'
})
await app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', store: new CookieStore({ maxSize: 4096 }) })

// Options that must not compile
expectError(app.register(session, {}))
expectError(app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', lifetime: '1h' }))
expectError(app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', onStoreError: 'ignore' }))
expectError(app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', cookie: { sameSite: 'relaxed' } }))
expectError(app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', autoload: '/admin' }))

app.get('/', { config: { session: { autoload: true } } }, async (request) => {
  expectType<Promise<Session>>(request.loadSession())
  expectType<boolean>(request.sessionLoaded)
  const s = request.session
  expectType<string | undefined>(s.get('userId'))
  expectType<number | undefined>(s.get('visits'))
  expectType<unknown>(s.get('anything-else'))
  s.set('userId', 'u1').set('visits', 2)
  expectError(s.set('userId', 1))
  expectError(s.set('visits', 'many'))
  expectType<string | null>(s.id)
  expectType<boolean>(s.isNew)
  expectType<'new' | 'loaded' | 'expired' | 'invalid' | 'not-found' | 'revoked'>(s.reason)
  expectType<number>(s.createdAt)
  expectType<number>(s.lastAccessAt)
  expectType<number | null>(s.expiresAt)
  expectType<Promise<void>>(s.regenerate())
  expectType<Promise<void>>(s.destroy())
  expectType<Promise<void>>(s.save())
  expectType<void>(s.touch())
  expectType<boolean>(s.has('userId'))
  expectType<string | undefined>(s.data().userId)
  expectError(s.id = 'forged')
  expectError(request.session = s)
  return 'ok'
})

expectError(app.get('/', { config: { session: { autoload: 'yes' } } }, async () => 'x'))

expectAssignable<Error>(new SessionNotLoadedError())
expectType<'FST_SESSION_STORE_UNAVAILABLE'>(new SessionStoreUnavailableError('load').code)

// A custom store implements the SessionStore interface
const custom: SessionStore = {
  async load (id: string): Promise<SessionRecord | null> { return id === '' ? null : { data: new Map(), createdAt: 0, lastAccessAt: 0, expiresAt: null } },
  async save (_id: string, update: SessionUpdate): Promise<boolean> { return update.create },
  async destroy (): Promise<boolean> { return false }
}
expectError<SessionStore>({ load: async () => null })
expectType<ConformanceCase[]>(storeConformanceSuite({ createStore: () => custom }))
expectAssignable<SessionStore>(new RedisStore({ url: 'redis://127.0.0.1:6380' }))

declare const request: FastifyRequest
expectType<Session>(request.session)

// Sessions of a user
await app.register(session, {
  secret: 'a-secret-that-is-at-least-32-chars-long',
  userKey: 'userId',
  maxSessionsPerUser: 5,
  device: (req) => ({ ip: req.ip, userAgent: req.headers['user-agent'], label: 'web' })
})
expectError(app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', device: 'yes' }))
expectError(app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', userKey: 1 }))
expectType<Promise<SessionInfo[]>>(app.sessions.list('u1'))
expectType<Promise<SessionInfo[]>>(app.sessions.list(42))
expectType<Promise<boolean>>(app.sessions.revoke('u1', 'handle'))
expectType<Promise<number>>(app.sessions.revokeAll('u1', { except: 'handle' }))
expectType<Promise<number>>(app.sessions.revokeAll('u1'))
expectError(app.sessions.revokeAll('u1', 'handle'))
expectType<string | null>(request.session.handle)
expectError(request.session.handle = 'x')
expectType<'FST_SESSION_UNSUPPORTED'>(new SessionUnsupportedError('x').code)
