import createError from '@fastify/error'

/** An error of this plugin: an `Error` with the `code` and the HTTP `statusCode` that Fastify replies with. */
export interface SessionError<Code extends string = string, Status extends number = number> extends Error {
  code: Code
  statusCode: Status
}

/** The constructor of one error code: `new X(...)`, `err instanceof X`, or compare `err.code`. */
export interface SessionErrorConstructor<Code extends string = string, Status extends number = number> {
  new (...args: unknown[]): SessionError<Code, Status>
  (...args: unknown[]): SessionError<Code, Status>
  readonly prototype: SessionError<Code, Status>
}

// Spelled-out return type: the inferred one names @fastify/error's `export =` namespace, which
// consumers under moduleResolution bundler/node10 cannot resolve (TS2503) without skipLibCheck.
function sessionError<Code extends string, Status extends number> (code: Code, message: string, statusCode: Status): SessionErrorConstructor<Code, Status> {
  return createError(code, message, statusCode)
}

/** `request.session` was read before `await request.loadSession()`. */
export const SessionNotLoadedError: SessionErrorConstructor<'FST_SESSION_NOT_LOADED', 500> = sessionError(
  'FST_SESSION_NOT_LOADED',
  'The session is not loaded: call `await request.loadSession()` first, or enable `autoload` for this route',
  500
)

/**
 * The store failed or did not answer within its timeout (under `onStoreError: 'fail'`, and always for logout and
 * revocation). The message is generic, because it reaches the client: the store's own error is the `cause`.
 */
export const SessionStoreUnavailableError: SessionErrorConstructor<'FST_SESSION_STORE_UNAVAILABLE', 503> = sessionError(
  'FST_SESSION_STORE_UNAVAILABLE',
  'session store unavailable (%s)',
  503
)

/** The session does not fit in one cookie (CookieStore `maxSize`). */
export const SessionTooLargeError: SessionErrorConstructor<'FST_SESSION_TOO_LARGE', 500> = sessionError(
  'FST_SESSION_TOO_LARGE',
  'The session cookie would be %d bytes, more than the CookieStore maxSize of %d bytes: store less in the session or use a server-side store',
  500
)

/** A plugin or store option is invalid; `register` fails with it. */
export const InvalidOptionError: SessionErrorConstructor<'FST_SESSION_INVALID_OPTION', 500> = sessionError(
  'FST_SESSION_INVALID_OPTION',
  'Invalid fastify-lazy-session option: %s',
  500
)

/** `app.sessions` was called without `userKey`, or the store cannot list or revoke sessions of a user. */
export const SessionUnsupportedError: SessionErrorConstructor<'FST_SESSION_UNSUPPORTED', 500> = sessionError(
  'FST_SESSION_UNSUPPORTED',
  '%s',
  500
)
