// The fastify-lazy-session demo: server-rendered pages, no front-end build, no script in the browser.
// Run it with `npm start` (build, then `node demo/server.mjs`). In your own app you would write
// `import session from 'fastify-lazy-session'`; the demo uses the build in this repository.
import Fastify from 'fastify'
import session, { CookieStore, MemoryStore } from '../dist/index.js'

/** Used when SESSION_SECRET is not set: fine on your machine, never in production. */
export const DEV_SECRET = 'fastify-lazy-session-demo-secret-do-not-use-in-production'

const MAX_USERNAME = 64

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

function homePage ({ visits, user, reason, error, settings }) {
  const signedIn = user !== undefined
  const expired = reason === 'expired' || reason === 'not-found'
  const notice = expired
    ? `<div class="card notice" data-testid="expired" data-reason="${escapeHtml(reason)}">
  Your session has expired${reason === 'not-found' ? ' or ended' : ''}: this is a new one. Please sign in again.
</div>`
    : ''
  const errorNotice = error === undefined ? '' : `<div class="card notice" data-testid="error">${escapeHtml(error)}</div>`
  const account = signedIn
    ? `<form method="post" action="/logout">
    <button type="submit" data-testid="logout">Sign out</button>
  </form>`
    : `<form method="post" action="/login">
    <label for="username">Name</label>
    <input id="username" name="username" autocomplete="username" required maxlength="${MAX_USERNAME}">
    <button type="submit" data-testid="login">Sign in</button>
  </form>`
  return page('fastify-lazy-session demo', `<h1>fastify-lazy-session demo</h1>
<p class="muted">This page loads the session; <a href="/public">/public</a> never does.</p>
${notice}${errorNotice}
<div class="card">
  <dl>
    <dt>Visits</dt><dd data-testid="visits">${escapeHtml(visits)}</dd>
    <dt>Signed in as</dt><dd data-testid="user">${signedIn ? escapeHtml(user) : ''}</dd>
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

  const app = Fastify({ logger: options.logger ?? false })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body)))
  })

  await app.register(session, {
    secret: settings.secret,
    store: settings.store === 'cookie' ? new CookieStore() : new MemoryStore(),
    lifetime: settings.lifetime,
    rolling: settings.rolling,
    idleTimeout: settings.idleTimeout,
    // Secure is the default and stays on: browsers treat http://localhost as a secure context.
    cookie: { secure: settings.secure }
  })

  app.get('/', async (request, reply) => {
    const session = await request.loadSession()
    const visits = (session.get('visits') ?? 0) + 1
    session.set('visits', visits)
    const error = request.query.error === 'username' ? `Enter a name of 1 to ${MAX_USERNAME} characters.` : undefined
    return send(reply, homePage({ visits, user: session.get('user'), reason: session.reason, error, settings }))
  })

  app.post('/login', async (request, reply) => {
    const username = typeof request.body?.username === 'string' ? request.body.username.trim() : ''
    if (username.length === 0 || username.length > MAX_USERNAME) return reply.redirect('/?error=username', 303)
    const session = await request.loadSession()
    session.set('user', username)
    // New ID on privilege change: a session ID planted before sign-in is worthless after it.
    await session.regenerate()
    return reply.redirect('/', 303)
  })

  app.post('/logout', async (request, reply) => {
    const session = await request.loadSession()
    await session.destroy()
    return reply.redirect('/', 303)
  })

  app.get('/public', async (request, reply) => {
    // Never calls loadSession(): no cookie parsing, no store access, no Set-Cookie.
    return send(reply, page('Public page', `<h1>Public page</h1>
<p>This route never loads the session: the server does not read the cookie and sends none.</p>
<p><a href="/">Back to the session page</a></p>`))
  })

  if (options.e2eRoutes === true) addE2eRoutes(app)
  return app
}

/**
 * Routes for the browser test only: a form on one site that posts to `/whoami` on another, and `/whoami`
 * reporting whether the session cookie came with the request. `localhost` and `127.0.0.1` are two sites.
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
    const session = await request.loadSession()
    return send(reply, page('Who am I', `<dl>
  <dt>Method</dt><dd data-testid="method">${escapeHtml(request.method)}</dd>
  <dt>Cookie sent</dt><dd data-testid="cookie-sent">${cookieSent ? 'yes' : 'no'}</dd>
  <dt>User</dt><dd data-testid="user">${escapeHtml(session.get('user') ?? '')}</dd>
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
