import { InvalidOptionError } from './errors.ts'
import { MemoryStore } from './stores/MemoryStore.ts'
import { CookieStore } from './stores/CookieStore.ts'
import type { FastifyRequest } from 'fastify'
import type { Serializer, SessionDevice, SessionStore } from './types.ts'

/** Cookie attributes of the session cookie. */
export interface SessionCookieOptions {
  /** @default '__Host-session' when `secure`, `path: '/'` and no `domain` (the defaults), else 'session' */
  name?: string
  /** @default '/' */
  path?: string
  /** @default undefined (host-only cookie) */
  domain?: string
  /** @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none'
  /** @default true */
  secure?: boolean
  /** @default true */
  httpOnly?: boolean
  /** @default false */
  partitioned?: boolean
}

/** A request header whose presence (and value) turns session handling off for that request. */
export interface SkipHeader {
  /** Header name, case-insensitive. */
  name: string
  /** The value to match exactly, or `'*'` for any value. */
  value: string
}

/** Options of the fastify-lazy-session plugin. */
export interface FastifyLazySessionOptions {
  /** One secret or a list, each at least 32 characters. The first signs, all verify (rotation). */
  secret: string | string[]
  /** Where sessions live. @default new MemoryStore() */
  store?: SessionStore | CookieStore
  /** Session lifetime in seconds; `0` makes a browser-session cookie (the store still expires it). @default 0 */
  lifetime?: number
  /** Every response that loaded the session re-sends the cookie with `Max-Age=lifetime`. @default false */
  rolling?: boolean
  /** Seconds without a request that loads the session before the server refuses it; `0` = off. @default 0 */
  idleTimeout?: number
  /** Seconds since creation before the server refuses the session, rolling or not; `0` = off. @default 0 */
  absoluteTimeout?: number
  /** Load the session in `preHandler`: on every route (`true`), or on paths matching a prefix string or RegExp. @default false */
  autoload?: boolean | Array<string | RegExp>
  /** Session cookie attributes. */
  cookie?: SessionCookieOptions
  /** Turns one session value into a string and back. @default JSON */
  serializer?: Serializer
  /** Requests carrying this header (or one of these) get no session handling at all. @default none */
  skipHeader?: SkipHeader | SkipHeader[]
  /** `'fail'`: a store failure fails the request with 503. `'fresh'`: log a warning and continue with a new empty session. @default 'fail' */
  onStoreError?: 'fail' | 'fresh'
  /**
   * The data key that holds the signed-in user's ID (a string, or a finite number): every store that can keeps a
   * per-user index of sessions, listed and revoked through `app.sessions`. @default undefined (no index)
   */
  userKey?: string
  /** With `userKey`: at most this many sessions per user; binding one more revokes the least recently used. `0` = unlimited. @default 0 */
  maxSessionsPerUser?: number
  /**
   * Record where a session is used from, shown by `app.sessions.list()`: `true` = `request.ip` and `User-Agent`, or a
   * function that returns what to record. Personal data, so off by default. @default false
   */
  device?: boolean | ((request: FastifyRequest) => SessionDevice)
}

export interface NormalizedCookie {
  name: string
  path: string
  domain: string | undefined
  sameSite: 'lax' | 'strict' | 'none'
  secure: boolean
  httpOnly: boolean
  partitioned: boolean
}

export interface NormalizedOptions {
  secrets: string[]
  store: SessionStore | CookieStore
  /** ms; 0 = browser-session */
  lifetime: number
  rolling: boolean
  /** ms; 0 = off */
  idleTimeout: number
  /** ms; 0 = off */
  absoluteTimeout: number
  autoloadAll: boolean
  autoloadPrefixes: string[]
  autoloadPatterns: RegExp[]
  cookie: NormalizedCookie
  serializer: Serializer
  /** lower-case name → value, `null` = any value */
  skipHeaders: Array<{ name: string, value: string | null }>
  onStoreError: 'fail' | 'fresh'
  /** `null`: no per-user index */
  userKey: string | null
  /** 0 = unlimited */
  maxSessionsPerUser: number
  /** `null`: off */
  device: ((request: FastifyRequest) => SessionDevice) | null
}

/** The default cookie name where a `__Host-` name is allowed (Secure, Path=/, no Domain): no subdomain can toss one in. */
export const HOST_COOKIE_NAME = '__Host-session'
/** The default cookie name where a `__Host-` name is not allowed. */
export const PLAIN_COOKIE_NAME = 'session'

export const DEFAULT_COOKIE: Readonly<NormalizedCookie> = {
  name: HOST_COOKIE_NAME,
  path: '/',
  domain: undefined,
  sameSite: 'lax',
  secure: true,
  httpOnly: true,
  partitioned: false
}

export const JSON_SERIALIZER: Serializer = {
  serialize: (value) => JSON.stringify(value),
  deserialize: (text) => JSON.parse(text)
}

const MIN_SECRET_LENGTH = 32
// RFC 6265 cookie-name = token (RFC 7230 tchar)
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// RFC 7230 field-name = token
const HEADER_NAME = COOKIE_NAME
const SAME_SITE = ['lax', 'strict', 'none']

function fail (message: string): never {
  throw new InvalidOptionError(message)
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function seconds (options: Record<string, unknown>, name: string): number {
  const value = options[name] ?? 0
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(`\`${name}\` must be a number of seconds ≥ 0`)
  }
  return value * 1000
}

function boolean (options: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = options[name] ?? fallback
  if (typeof value !== 'boolean') fail(`\`${name}\` must be a boolean`)
  return value
}

function normalizeSecrets (secret: unknown): string[] {
  const secrets = Array.isArray(secret) ? secret : [secret]
  if (secret === undefined || secrets.length === 0) {
    fail('`secret` is required: a string or an array of strings, each at least 32 characters')
  }
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH) {
      fail('`secret`: every secret must be a string of at least 32 characters')
    }
  }
  return secrets as string[]
}

function normalizeStore (store: unknown): SessionStore | CookieStore {
  if (store === undefined) return new MemoryStore()
  if (store instanceof CookieStore) return store
  if (!isObject(store) || typeof store.load !== 'function' || typeof store.save !== 'function' || typeof store.destroy !== 'function') {
    fail('`store` must implement the SessionStore interface (load, save, destroy)')
  }
  return store as unknown as SessionStore
}

function normalizeAutoload (autoload: unknown): Pick<NormalizedOptions, 'autoloadAll' | 'autoloadPrefixes' | 'autoloadPatterns'> {
  const result = { autoloadAll: false, autoloadPrefixes: [] as string[], autoloadPatterns: [] as RegExp[] }
  if (autoload === undefined || autoload === false) return result
  if (autoload === true) {
    result.autoloadAll = true
    return result
  }
  if (!Array.isArray(autoload)) fail('`autoload` must be true, false or an array of path prefixes (strings starting with "/") and RegExps')
  for (const entry of autoload) {
    if (entry instanceof RegExp) {
      // Without g/y: `test()` must not carry lastIndex from one request to the next.
      result.autoloadPatterns.push(new RegExp(entry.source, entry.flags.replace(/[gy]/g, '')))
    } else if (typeof entry === 'string' && entry.startsWith('/')) {
      result.autoloadPrefixes.push(entry)
    } else {
      fail('`autoload`: every entry must be a path prefix starting with "/" or a RegExp')
    }
  }
  return result
}

function normalizeCookie (cookie: unknown): NormalizedCookie {
  if (cookie === undefined) return { ...DEFAULT_COOKIE }
  if (!isObject(cookie)) fail('`cookie` must be an object')
  const result: NormalizedCookie = {
    name: cookie.name as string,
    path: (cookie.path ?? DEFAULT_COOKIE.path) as string,
    domain: cookie.domain as string | undefined,
    sameSite: (cookie.sameSite ?? DEFAULT_COOKIE.sameSite) as NormalizedCookie['sameSite'],
    secure: boolean(cookie, 'secure', DEFAULT_COOKIE.secure),
    httpOnly: boolean(cookie, 'httpOnly', DEFAULT_COOKIE.httpOnly),
    partitioned: boolean(cookie, 'partitioned', DEFAULT_COOKIE.partitioned)
  }
  if (result.name === undefined) {
    result.name = result.secure && result.path === '/' && result.domain === undefined ? HOST_COOKIE_NAME : PLAIN_COOKIE_NAME
  }
  if (typeof result.name !== 'string' || !COOKIE_NAME.test(result.name)) {
    fail('`cookie.name` must be a valid cookie name (an RFC 6265 token: letters, digits and !#$%&\'*+-.^_`|~)')
  }
  if (typeof result.path !== 'string' || !result.path.startsWith('/') || /[\x00-\x20;\x7f]/.test(result.path)) {
    fail('`cookie.path` must start with "/" and contain no spaces, control characters or ";"')
  }
  if (result.domain !== undefined && (typeof result.domain !== 'string' || !/^\.?[A-Za-z0-9.-]+$/.test(result.domain))) {
    fail('`cookie.domain` must be a host name')
  }
  if (!SAME_SITE.includes(result.sameSite)) fail('`cookie.sameSite` must be "lax", "strict" or "none"')
  if (result.sameSite === 'none' && !result.secure) fail('`cookie.sameSite: "none"` requires `cookie.secure: true`')
  if (result.partitioned && !result.secure) fail('`cookie.partitioned` requires `cookie.secure: true`')
  if (result.name.startsWith('__Secure-') && !result.secure) fail('a `__Secure-` cookie name requires `cookie.secure: true`')
  if (result.name.startsWith('__Host-') && (!result.secure || result.path !== '/' || result.domain !== undefined)) {
    fail('a `__Host-` cookie name requires `cookie.secure: true`, `cookie.path: "/"` and no `cookie.domain`')
  }
  return result
}

function normalizeSerializer (serializer: unknown): Serializer {
  if (serializer === undefined) return JSON_SERIALIZER
  if (!isObject(serializer) || typeof serializer.serialize !== 'function' || typeof serializer.deserialize !== 'function') {
    fail('`serializer` must be an object with serialize(value) and deserialize(text) functions')
  }
  return serializer as unknown as Serializer
}

function normalizeSkipHeaders (skipHeader: unknown): NormalizedOptions['skipHeaders'] {
  if (skipHeader === undefined) return []
  const list = Array.isArray(skipHeader) ? skipHeader : [skipHeader]
  return list.map((entry: unknown) => {
    if (!isObject(entry) || typeof entry.name !== 'string' || !HEADER_NAME.test(entry.name) || typeof entry.value !== 'string') {
      fail('`skipHeader` must be { name, value } (or an array of them) with a valid header name and a string value ("*" = any)')
    }
    return { name: entry.name.toLowerCase(), value: entry.value === '*' ? null : entry.value }
  })
}

function normalizeUserKey (userKey: unknown): string | null {
  if (userKey === undefined) return null
  if (typeof userKey !== 'string' || userKey === '') fail('`userKey` must be a non-empty string: the session data key that holds the user ID')
  return userKey
}

function normalizeMaxSessions (max: unknown, userKey: string | null, store: SessionStore | CookieStore): number {
  if (max === undefined || max === 0) return 0
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0) fail('`maxSessionsPerUser` must be a whole number ≥ 0 (0 = unlimited)')
  if (userKey === null) fail('`maxSessionsPerUser` needs `userKey`: the session data key that holds the user ID')
  // Checked now: a cap that cannot be enforced would be a silent hole in a documented limit.
  if (store instanceof CookieStore || typeof store.list !== 'function' || typeof store.revoke !== 'function') {
    fail('`maxSessionsPerUser` needs a store that can list and revoke the sessions of a user (MemoryStore, RedisStore); a CookieStore cannot')
  }
  return max
}

function normalizeDevice (device: unknown): NormalizedOptions['device'] {
  if (device === undefined || device === false) return null
  if (device === true) return (request) => ({ ip: request.ip, userAgent: request.headers['user-agent'] })
  if (typeof device !== 'function') fail('`device` must be false, true or a function (request) => ({ ip?, userAgent?, label? })')
  return device as (request: FastifyRequest) => SessionDevice
}

/** Fills in defaults and checks every option; throws `InvalidOptionError` naming the option. */
export function normalizeOptions (options: Record<string, unknown>): NormalizedOptions {
  const onStoreError = options.onStoreError ?? 'fail'
  if (onStoreError !== 'fail' && onStoreError !== 'fresh') fail('`onStoreError` must be "fail" or "fresh"')
  const store = normalizeStore(options.store)
  const userKey = normalizeUserKey(options.userKey)
  return {
    secrets: normalizeSecrets(options.secret),
    store,
    lifetime: seconds(options, 'lifetime'),
    rolling: boolean(options, 'rolling', false),
    idleTimeout: seconds(options, 'idleTimeout'),
    absoluteTimeout: seconds(options, 'absoluteTimeout'),
    ...normalizeAutoload(options.autoload),
    cookie: normalizeCookie(options.cookie),
    serializer: normalizeSerializer(options.serializer),
    skipHeaders: normalizeSkipHeaders(options.skipHeader),
    onStoreError,
    userKey,
    maxSessionsPerUser: normalizeMaxSessions(options.maxSessionsPerUser, userKey, store),
    device: normalizeDevice(options.device)
  }
}
