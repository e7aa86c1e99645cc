import createError from '@fastify/error'

/** `request.session` was read before `await request.loadSession()`. */
export const SessionNotLoadedError = createError(
  'FST_SESSION_NOT_LOADED',
  'The session is not loaded: call `await request.loadSession()` first, or enable `autoload` for this route',
  500
)

/**
 * The store failed or did not answer within its timeout (under `onStoreError: 'fail'`, and always for logout and
 * revocation). The message is generic, because it reaches the client: the store's own error is the `cause`.
 */
export const SessionStoreUnavailableError = createError(
  'FST_SESSION_STORE_UNAVAILABLE',
  'session store unavailable (%s)',
  503
)

/** The session does not fit in one cookie (CookieStore `maxSize`). */
export const SessionTooLargeError = createError(
  'FST_SESSION_TOO_LARGE',
  'The session cookie would be %d bytes, more than the CookieStore maxSize of %d bytes: store less in the session or use a server-side store',
  500
)

/** A plugin or store option is invalid; `register` fails with it. */
export const InvalidOptionError = createError(
  'FST_SESSION_INVALID_OPTION',
  'Invalid fastify-lazy-session option: %s',
  500
)

/** `app.sessions` was called without `userKey`, or the store cannot list or revoke sessions of a user. */
export const SessionUnsupportedError = createError(
  'FST_SESSION_UNSUPPORTED',
  '%s',
  500
)
