/**
 * `app.sessions`: every session of a user, listed and revoked through the store's per-user index (option `userKey`).
 * A CookieStore keeps no index: it can only cut off every cookie of a user sealed before now (`revokeAll`).
 */
import { revokedChannel, storeName, traced } from './channels.ts'
import { SessionUnsupportedError } from './errors.ts'
import type { NormalizedOptions } from './options.ts'
import { storeFailure } from './RequestSession.ts'
import { CookieStore } from './stores/CookieStore.ts'
import type { SessionInfo, SessionStore } from './types.ts'

/** Options of `app.sessions.revokeAll()`. */
export interface RevokeAllOptions {
  /** the handle of a session to keep (e.g. `request.session.handle`: "sign out everywhere else") */
  except?: string
}

/** The sessions of one user (`userKey`): what `app.sessions` offers. */
export interface UserSessions {
  /** The user's live sessions, most recently used first. */
  list (userId: string | number): Promise<SessionInfo[]>
  /** Ends the session `handle` of the user; resolves `true` when there was one. */
  revoke (userId: string | number, handle: string): Promise<boolean>
  /** Ends every session of the user but `except`; resolves how many were ended (always 0 with a CookieStore, which cannot count cookies). */
  revokeAll (userId: string | number, options?: RevokeAllOptions): Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every session of a user (needs the `userKey` option): list, revoke one, revoke all but one. */
    sessions: UserSessions
  }
}

/** The user ID as the index keeps it: a non-empty string, or a finite number as a string. */
function userOf (userId: unknown): string {
  if (typeof userId === 'string' && userId !== '') return userId
  if (typeof userId === 'number' && Number.isFinite(userId)) return String(userId)
  throw new TypeError('app.sessions: the user ID must be a non-empty string or a finite number')
}

function handleOf (handle: unknown): string {
  if (typeof handle !== 'string' || handle === '') throw new TypeError('app.sessions: the handle must be a non-empty string (`session.handle` or one from `list()`)')
  return handle
}

/** `app.sessions` for one plugin registration. */
export class StoreUserSessions implements UserSessions {
  readonly #options: NormalizedOptions
  /** what events and traces call the store */
  readonly #store: string

  constructor (options: NormalizedOptions) {
    this.#options = options
    this.#store = storeName(options.store)
  }

  /** The store method, or FST_SESSION_UNSUPPORTED when `userKey` is off or the store cannot do it. */
  #method<M extends 'list' | 'revoke' | 'revokeAll'> (method: M): NonNullable<SessionStore[M]> {
    if (this.#options.userKey === null) {
      throw new SessionUnsupportedError(`app.sessions.${method}() needs the \`userKey\` option: the session data key that holds the user ID`)
    }
    const store = this.#options.store
    if (store instanceof CookieStore && method !== 'revokeAll') {
      throw new SessionUnsupportedError(`app.sessions.${method}(): a CookieStore keeps its sessions in the browsers and cannot list them or revoke one; revokeAll() works`)
    }
    const fn = (store as SessionStore)[method]
    if (typeof fn !== 'function') {
      throw new SessionUnsupportedError(`app.sessions.${method}(): this store has no ${method}() method, so it keeps no per-user index`)
    }
    return fn.bind(store) as NonNullable<SessionStore[M]>
  }

  async list (userId: string | number): Promise<SessionInfo[]> {
    const list = this.#method('list')
    const user = userOf(userId)
    let sessions: SessionInfo[]
    try {
      sessions = await traced('list', null, this.#store, null, () => list(user))
    } catch (error) {
      throw storeFailure('list', error)
    }
    return [...sessions].sort((a, b) => b.lastAccessAt - a.lastAccessAt)
  }

  async revoke (userId: string | number, handle: string): Promise<boolean> {
    const revoke = this.#method('revoke')
    const user = userOf(userId)
    const target = handleOf(handle)
    let revoked: boolean
    try {
      revoked = await traced('revoke', null, this.#store, target, () => revoke(user, target))
    } catch (error) {
      throw storeFailure('revoke', error)
    }
    if (revoked && revokedChannel.hasSubscribers) {
      revokedChannel.publish({ request: null, handle: target, store: this.#store, reason: 'revoke', count: 1, except: null })
    }
    return revoked
  }

  async revokeAll (userId: string | number, options: RevokeAllOptions = {}): Promise<number> {
    const revokeAll = this.#method('revokeAll')
    const user = userOf(userId)
    const except = options.except === undefined ? undefined : handleOf(options.except)
    let count: number
    try {
      count = await traced('revokeAll', null, this.#store, null, () => revokeAll(user, except))
    } catch (error) {
      throw storeFailure('revoke', error)
    }
    if (revokedChannel.hasSubscribers) {
      revokedChannel.publish({ request: null, handle: null, store: this.#store, reason: 'revoke-all', count, except: except ?? null })
    }
    return count
  }
}
