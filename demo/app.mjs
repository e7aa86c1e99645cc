// The fastify-lazy-session demo: server-rendered pages, no front-end build, no script in the browser.
// Sign-in the way a real app does it: @fastify/passport with a local strategy, @fastify/csrf-protection on every
// form, @fastify/flash messages, and a "Your devices" page (option `userKey`, `app.sessions`).
// Run it with `npm start` (build, then `node demo/server.mjs`). In your own app you would write
// `import session from 'fastify-lazy-session'`; the demo uses the build in this repository.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import csrf from '@fastify/csrf-protection'
import formbody from '@fastify/formbody'
import { Authenticator } from '@fastify/passport'
import { Strategy as LocalStrategy } from 'passport-local'
import session, { CookieStore, MemoryStore } from '../dist/index.js'

/** Used when SESSION_SECRET is not set: fine on your machine, never in production. */
export const DEV_SECRET = 'fastify-lazy-session-demo-secret-do-not-use-in-production'

const MAX_FIELD = 128
const scryptAsync = promisify(scrypt)

/** The demo's users, fixed so that anyone can try it; the page lists them under the form. */
export const DEMO_USERS = [
  { username: 'ada', name: 'Ada Lovelace', password: 'lovelace' },
  { username: 'grace', name: 'Grace Hopper', password: 'hopper' }
]

/** Users in memory, passwords kept only as scrypt hashes with a salt each. */
function userDirectory () {
  const users = new Map()
  for (const { username, name, password } of DEMO_USERS) {
    const salt = randomBytes(16)
    users.set(username, { username, name, salt, hash: scryptSync(password, salt, 32) })
  }
  // Unknown names are checked against this one, so that a wrong name takes as long as a wrong password.
  const nobody = { salt: randomBytes(16), hash: randomBytes(32) }
  return {
    get: (username) => users.get(username),
    async verify (username, password) {
      const user = users.get(username)
      const { salt, hash } = user ?? nobody
      const candidate = await scryptAsync(password, salt, 32)
      return timingSafeEqual(candidate, hash) && user !== undefined ? user : null
    }
  }
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml (value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }
  h1 { font-size: 1.5rem; margin-bottom: .25rem; }
  .muted { color: #59636e; }
  .card { border: 1px solid #d1d9e0; border-radius: 8px; padding: 1rem 1.25rem; margin: 1rem 0; }
  .notice { background: #fff8c5; border-color: #d4a72c; }
  .success { background: #dafbe1; border-color: #4ac26b; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #d1d9e0; vertical-align: top; }
  .mine { font-weight: 600; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
  dt { font-weight: 600; }
  dd { margin: 0; font-family: ui-monospace, monospace; }
  form { display: inline-flex; gap: .5rem; margin: 0; }
  input, button { font: inherit; padding: .25rem .6rem; }
  button { cursor: pointer; }
`

// No script anywhere; forms may only go to this origin.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/** 1209600 → "14 days", 90 → "90 seconds". */
function duration (seconds) {
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${unit}${seconds === size ? '' : 's'}`
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`
}

function page (title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`
}

function send (reply, html, csp = CSP) {
  return reply
    .header('content-security-policy', csp)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(html)
}

/** `ms since epoch` → "2026-12-02 05:10:31 UTC" */
function time (ms) {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC'
}

/** The flash messages of @fastify/flash (set by passport's failureFlash/successFlash and by the routes), read once. */
function takeFlash (request, reply) {
  if (!request.session.has('flash')) return ''
  const all = reply.flash()
  request.session.delete('flash')
  return Object.entries(all).flatMap(([type, messages]) => messages.map((message) =>
    `<div class="card ${type === 'error' ? 'notice' : 'success'}" data-testid="flash" data-type="${escapeHtml(type)}">${escapeHtml(message)}</div>`
  )).join('\n')
}

function csrfField (token) {
  return `<input type="hidden" name="_csrf" value="${escapeHtml(token)}">`
}

function homePage ({ visits, user, reason, flash, csrfToken, settings }) {
  const signedIn = user != null
  const expired = reason === 'expired' || reason === 'not-found' || reason === 'revoked'
  const notice = expired
    ? `<div class="card notice" data-testid="expired" data-reason="${escapeHtml(reason)}">
  Your session has expired${reason === 'expired' ? '' : ' or ended'}: this is a new one. Please sign in again.
</div>`
    : ''
  const account = signedIn
    ? `<form method="post" action="/logout">
    ${csrfField(csrfToken)}
    <button type="submit" data-testid="logout">Sign out</button>
  </form>
  <a href="/devices" data-testid="devices-link">Your devices</a>`
    : `<form method="post" action="/login">
    ${csrfField(csrfToken)}
    <label for="username">Name</label>
    <input id="username" name="username" autocomplete="username" required maxlength="${MAX_FIELD}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="${MAX_FIELD}">
    <button type="submit" data-testid="login">Sign in</button>
  </form>
  <p class="muted" data-testid="demo-users">Demo users: ${DEMO_USERS.map((u) => `<code>${escapeHtml(u.username)}</code> / <code>${escapeHtml(u.password)}</code>`).join(' and ')}.</p>`
  return page('fastify-lazy-session demo', `<h1>fastify-lazy-session demo</h1>
<p class="muted">This page loads the session; <a href="/public">/public</a> never does.</p>
${notice}${flash}
<div class="card">
  <dl>
    <dt>Visits</dt><dd data-testid="visits">${escapeHtml(visits)}</dd>
    <dt>Signed in as</dt><dd><span data-testid="user">${signedIn ? escapeHtml(user.username) : ''}</span>${signedIn ? ` <span class="muted">(${escapeHtml(user.name)})</span>` : ''}</dd>
    <dt>Session</dt><dd data-testid="reason">${escapeHtml(reason)}</dd>
  </dl>
</div>
<div class="card">
  ${account}
</div>
<p class="muted">Cookie: Secure ${settings.secure ? 'on' : 'off'}, HttpOnly, SameSite=Lax;
lifetime ${settings.lifetime > 0 ? escapeHtml(duration(settings.lifetime)) : 'until the browser closes'}, ${settings.rolling ? 'rolling' : 'fixed'} expiry${settings.idleTimeout > 0 ? `, idle timeout ${escapeHtml(duration(settings.idleTimeout))}` : ''};
store: ${escapeHtml(settings.store)}.</p>`)
}

function devicesPage ({ user, sessions, current, flash, csrfToken, unsupported }) {
  const rows = sessions.map((info) => {
    const mine = info.handle === current
    const action = mine
      ? '<span data-testid="this-device">This device</span>'
      : `<form method="post" action="/devices/revoke">
      ${csrfField(csrfToken)}
      <input type="hidden" name="handle" value="${escapeHtml(info.handle)}">
      <button type="submit" data-testid="revoke">Sign out</button>
    </form>`
    return `<tr data-testid="device" data-current="${mine}"${mine ? ' class="mine"' : ''}>
    <td data-testid="user-agent">${escapeHtml(info.device?.userAgent ?? 'unknown browser')}<br><span class="muted">${escapeHtml(info.device?.ip ?? '')}</span></td>
    <td>${escapeHtml(time(info.createdAt))}</td>
    <td>${escapeHtml(time(info.lastAccessAt))}</td>
    <td>${action}</td>
  </tr>`
  }).join('\n  ')
  const list = unsupported
    ? `<div class="card notice" data-testid="unsupported">This store keeps the sessions in the browsers' cookies: it cannot list them
or sign out one of them. "Sign out everywhere else" still works.</div>`
    : `<table>
  <thead><tr><th>Browser</th><th>Signed in</th><th>Last used</th><th></th></tr></thead>
  <tbody>
  ${rows}
  </tbody>
</table>`
  return page('Your devices', `<h1>Your devices</h1>
<p class="muted">Every browser signed in as <strong>${escapeHtml(user.username)}</strong>, most recently used first.</p>
${flash}
${list}
<div class="card">
  <form method="post" action="/devices/revoke-others">
    ${csrfField(csrfToken)}
    <button type="submit" data-testid="revoke-others">Sign out everywhere else</button>
  </form>
</div>
<p><a href="/">Back to the session page</a></p>`)
}

function forbiddenPage () {
  return page('Forbidden', `<h1>Forbidden</h1>
<p data-testid="forbidden">This form was not sent from a page of this site (missing or wrong CSRF token). Nothing was changed.</p>
<p><a href="/">Back to the session page</a></p>`)
}

/**
 * Builds the demo app (not listening).
 * @param {object} [options]
 * @param {string|string[]} [options.secret] session secret(s), each ≥ 32 characters; default DEV_SECRET
 * @param {number} [options.lifetime] seconds, default 14 days
 * @param {boolean} [options.rolling] default true
 * @param {number} [options.idleTimeout] seconds, 0 = off (default)
 * @param {'memory'|'cookie'} [options.store] default 'memory'
 * @param {boolean} [options.secure] the cookie's Secure attribute, default true
 * @param {boolean} [options.e2eRoutes] adds the routes the browser test uses (default false)
 * @param {object|boolean} [options.logger] Fastify's logger option
 */
export async function buildDemo (options = {}) {
  const settings = {
    secret: options.secret ?? DEV_SECRET,
    lifetime: options.lifetime ?? 14 * 24 * 3600,
    rolling: options.rolling ?? true,
    idleTimeout: options.idleTimeout ?? 0,
    store: options.store ?? 'memory',
    secure: options.secure ?? true
  }
  if (settings.store !== 'memory' && settings.store !== 'cookie') {
    throw new Error(`store must be "memory" or "cookie", got ${JSON.stringify(settings.store)}`)
  }
  const users = userDirectory()

  const app = Fastify({ logger: options.logger ?? false })
  await app.register(formbody, { bodyLimit: 4096 })
  await app.register(session, {
    secret: settings.secret,
    store: settings.store === 'cookie' ? new CookieStore() : new MemoryStore(),
    lifetime: settings.lifetime,
    rolling: settings.rolling,
    idleTimeout: settings.idleTimeout,
    // Loaded in onRequest for every route but /public, so that passport and csrf-protection find it in their hooks.
    autoload: true,
    // passport keeps the signed-in user's ID under `passport`: that is what the per-user index is keyed by.
    userKey: 'passport',
    // The browser and IP of each session, for the devices page (personal data: off unless asked for).
    device: true,
    // Secure is the default and stays on: browsers treat http://localhost as a secure context.
    cookie: { secure: settings.secure }
  })
  // The secret lives in the session (get/set): the mode meant for sessions without property access.
  await app.register(csrf, { sessionPlugin: '@fastify/secure-session' })

  // Kept across sign-in, which otherwise starts the session over under a new ID: the visit count.
  const passport = new Authenticator({ clearSessionIgnoreFields: ['visits'] })
  passport.use('local', new LocalStrategy((username, password, done) => {
    if (username.length > MAX_FIELD || password.length > MAX_FIELD) return done(null, false)
    users.verify(username, password).then((user) => done(null, user ?? false), done)
  }))
  passport.registerUserSerializer(async (user) => user.username)
  // A user who no longer exists is signed out (passport: `null` → logOut).
  passport.registerUserDeserializer(async (username) => users.get(username) ?? null)
  // Registers @fastify/flash too.
  await app.register(passport.initialize())

  app.setErrorHandler((error, request, reply) => {
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return send(reply.code(403), forbiddenPage())
    }
    reply.send(error)
  })

  app.get('/public', { config: { session: { autoload: false } } }, async (request, reply) => {
    // Never loads the session: no cookie parsing, no store access, no Set-Cookie.
    return send(reply, page('Public page', `<h1>Public page</h1>
<p>This route never loads the session: the server does not read the cookie and sends none.</p>
<p><a href="/">Back to the session page</a></p>`))
  })

  // Every route that knows who is signed in: passport's session strategy sets request.user in preValidation.
  await app.register(async (scope) => {
    await scope.register(passport.secureSession())
    /** Every form posts its CSRF token: checked once the form body is parsed. */
    const protect = app.csrfProtection

    scope.get('/', async (request, reply) => {
      const visits = (request.session.get('visits') ?? 0) + 1
      request.session.set('visits', visits)
      const flash = takeFlash(request, reply)
      return send(reply, homePage({ visits, user: request.user, reason: request.session.reason, flash, csrfToken: reply.generateCsrf(), settings }))
    })

    // passport's callback form: the route answers itself. (successRedirect/failureRedirect send from passport's
    // preValidation hook without `return reply`, so Fastify would run the handler too while the session is saved.)
    scope.post('/login', {
      preValidation: [protect, passport.authenticate('local', async (request, reply, error, user) => {
        if (error) throw error
        if (!user) {
          request.flash('error', 'Wrong name or password.')
          return reply.redirect('/', 303)
        }
        await request.logIn(user)
        request.flash('success', 'Signed in.')
        return reply.redirect('/', 303)
      })]
    }, async (request, reply) => reply.redirect('/', 303))

    scope.post('/logout', { preValidation: protect }, async (request, reply) => {
      await request.logOut()
      // Nothing of the signed-in session stays behind: store entry removed, cookie deleted.
      await request.session.destroy()
      return reply.redirect('/', 303)
    })

    scope.get('/devices', async (request, reply) => {
      if (request.user == null) return reply.redirect('/', 303)
      let sessions = []
      let unsupported = false
      try {
        sessions = await app.sessions.list(request.user.username)
      } catch (error) {
        if (error.code !== 'FST_SESSION_UNSUPPORTED') throw error
        unsupported = true
      }
      const flash = takeFlash(request, reply)
      return send(reply, devicesPage({ user: request.user, sessions, current: request.session.handle, flash, csrfToken: reply.generateCsrf(), unsupported }))
    })

    scope.post('/devices/revoke', { preValidation: protect }, async (request, reply) => {
      if (request.user == null) return reply.redirect('/', 303)
      const handle = typeof request.body?.handle === 'string' ? request.body.handle : ''
      // The index only finds handles of this user's own sessions: another user's handle revokes nothing.
      const revoked = handle !== '' && handle !== request.session.handle && await app.sessions.revoke(request.user.username, handle)
      request.flash(revoked ? 'success' : 'error', revoked ? 'That device is signed out.' : 'No such session (already signed out?).')
      return reply.redirect('/devices', 303)
    })

    scope.post('/devices/revoke-others', { preValidation: protect }, async (request, reply) => {
      if (request.user == null) return reply.redirect('/', 303)
      const count = await app.sessions.revokeAll(request.user.username, { except: request.session.handle })
      request.flash('success', settings.store === 'cookie'
        ? 'Every other browser is signed out.'
        : `Signed out ${count} other session${count === 1 ? '' : 's'}.`)
      return reply.redirect('/devices', 303)
    })

    if (options.e2eRoutes === true) addE2eRoutes(scope)
  })
  return app
}

/**
 * Routes for the browser test only: a form on one site that posts to `/whoami` on another, and `/whoami`
 * reporting whether the session cookie came with the request. `localhost` and `127.0.0.1` are two sites.
 * `/whoami` takes no CSRF token on purpose: it shows what SameSite alone does.
 */
function addE2eRoutes (app) {
  app.get('/e2e/whoami-form', async (request, reply) => {
    const host = request.query.host === '127.0.0.1' ? '127.0.0.1' : 'localhost'
    const target = `http://${host}:${request.socket.localPort}/whoami`
    return send(reply, page('Form to /whoami', `<h1>Forms to ${escapeHtml(target)}</h1>
<form method="post" action="${escapeHtml(target)}">
  <input type="hidden" name="from" value="form">
  <button type="submit" data-testid="post">POST</button>
</form>
<p><a data-testid="get" href="${escapeHtml(target)}">GET link</a></p>`), CSP.replace("form-action 'self'", `form-action ${target}`))
  })

  const whoami = async (request, reply) => {
    const cookieSent = /(?:^|;\s*)(?:__Host-)?session=/.test(request.headers.cookie ?? '')
    return send(reply, page('Who am I', `<dl>
  <dt>Method</dt><dd data-testid="method">${escapeHtml(request.method)}</dd>
  <dt>Cookie sent</dt><dd data-testid="cookie-sent">${cookieSent ? 'yes' : 'no'}</dd>
  <dt>User</dt><dd data-testid="user">${escapeHtml(request.user?.username ?? '')}</dd>
</dl>`))
  }
  app.get('/whoami', whoami)
  app.post('/whoami', whoami)
}

function envNumber (env, name, fallback) {
  const text = env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0, got ${JSON.stringify(text)}`)
  return value
}

function envBoolean (env, name, fallback) {
  const text = env[name]
  if (text === undefined || text === '') return fallback
  if (/^(?:1|true|yes|on)$/i.test(text)) return true
  if (/^(?:0|false|no|off)$/i.test(text)) return false
  throw new Error(`${name} must be true or false, got ${JSON.stringify(text)}`)
}

/** The demo's settings from environment variables; `warnings` are meant for the console. */
export function configFromEnv (env = process.env) {
  const warnings = []
  let secret = env.SESSION_SECRET
  if (secret === undefined || secret === '') {
    secret = DEV_SECRET
    warnings.push('SESSION_SECRET is not set: using the built-in development secret. Set SESSION_SECRET (≥ 32 characters) for anything but a local demo.')
  } else if (secret.length < 32) {
    throw new Error('SESSION_SECRET must be at least 32 characters long')
  }
  const port = envNumber(env, 'PORT', 3000)
  if (!Number.isInteger(port) || port > 65535) throw new Error(`PORT must be a port number, got ${JSON.stringify(env.PORT)}`)
  const secure = envBoolean(env, 'COOKIE_SECURE', true)
  if (!secure) warnings.push('COOKIE_SECURE=false: the session cookie is sent without the Secure attribute.')
  return {
    host: env.HOST || '127.0.0.1',
    port,
    warnings,
    options: {
      secret,
      lifetime: envNumber(env, 'LIFETIME', 14 * 24 * 3600),
      rolling: envBoolean(env, 'ROLLING', true),
      idleTimeout: envNumber(env, 'IDLE_TIMEOUT', 0),
      store: env.STORE || 'memory',
      secure,
      e2eRoutes: envBoolean(env, 'DEMO_E2E_ROUTES', false),
      logger: env.LOG_LEVEL ? { level: env.LOG_LEVEL } : false
    }
  }
}
