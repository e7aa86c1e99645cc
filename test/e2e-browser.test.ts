// The demo (demo/server.mjs, built plugin from dist/) in headless Chromium: what a real browser keeps,
// sends and drops. Needs `npm run build` first and Debian's chromium at /usr/bin/chromium.
// UPDATE_SCREENSHOT=1 also rewrites docs/demo-signed-in.png.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Page, Response } from 'playwright-core'
import { WAIT, assertBuilt, byTestId, launchBrowser, newContext, sessionCookie, signIn, sleep, startDemo, type DemoServer } from './fixtures/browser.ts'

const LIFETIME = 14 * 24 * 3600 // the demo's default
// Long enough that a reload slowed down by a busy CI machine (tap runs two files at once) still comes in time.
const IDLE_TIMEOUT = 4
const SCREENSHOT = fileURLToPath(new URL('../docs/demo-signed-in.png', import.meta.url))

assertBuilt()
const browser = await launchBrowser()
const servers: DemoServer[] = []
t.teardown(async () => {
  await browser.close()
  await Promise.all(servers.map((server) => server.stop()))
})

async function demo (env: Record<string, string> = {}): Promise<DemoServer> {
  const server = await startDemo({ DEMO_E2E_ROUTES: '1', ...env })
  servers.push(server)
  return server
}

const [main, fixed, idleMemory, idleCookie] = await Promise.all([
  demo(), // the defaults: MemoryStore, 14 days, rolling, Secure
  demo({ ROLLING: 'false', LIFETIME: '3600' }),
  demo({ IDLE_TIMEOUT: String(IDLE_TIMEOUT) }),
  demo({ IDLE_TIMEOUT: String(IDLE_TIMEOUT), STORE: 'cookie' })
]) as [DemoServer, DemoServer, DemoServer, DemoServer]

function setCookies (response: Response): Promise<string[]> {
  return response.headersArray().then((headers) => headers.filter((h) => h.name.toLowerCase() === 'set-cookie').map((h) => h.value))
}

const opts = { timeout: 40_000 }

t.test('Chromium keeps the cookie as the plugin sets it, and the count survives reloads', opts, async (t) => {
  const context = await newContext(browser)
  t.teardown(() => context.close())
  const page = await context.newPage()

  const before = Date.now() / 1000
  const first = await page.goto(main.url + '/')
  t.equal(first?.status(), 200)
  t.equal(await byTestId(page, 'visits'), '1')
  t.equal(await byTestId(page, 'user'), '')
  t.equal(await page.getByTestId('expired').count(), 0, 'no expired notice for a first visit')
  t.equal(await first?.headerValue('cache-control'), 'no-store')

  const cookie = await sessionCookie(context, main.url)
  t.ok(cookie, 'Chromium stored the session cookie for http://localhost (Secure on localhost is accepted)')
  t.match(cookie, { name: '__Host-session', domain: 'localhost', path: '/', httpOnly: true, secure: true, sameSite: 'Lax' })
  t.ok(Math.abs(cookie!.expires - (before + LIFETIME)) < 10, `expires ≈ now + ${LIFETIME} s (got ${cookie!.expires - before} s)`)

  t.equal(await page.evaluate(() => document.cookie), '', 'HttpOnly: page script cannot read it')

  await page.reload()
  await page.reload()
  t.equal(await byTestId(page, 'visits'), '3', 'the count survives reloads')
  t.equal((await sessionCookie(context, main.url))?.value, cookie!.value, 'same session, same cookie value')
  t.equal(await byTestId(page, 'reason'), 'loaded')
})

t.test('sign-in regenerates the ID and keeps the data', opts, async (t) => {
  const context = await newContext(browser)
  t.teardown(() => context.close())
  const page = await context.newPage()
  await page.goto(main.url + '/')
  const anonymous = await sessionCookie(context, main.url)
  t.ok(anonymous)

  const name = `Ada <b>Lovelace</b> & "friends" '`
  await signIn(page, main.url, name)
  t.equal(await byTestId(page, 'user'), name, 'the name is shown as text')
  t.equal(await page.locator('[data-testid="user"] b').count(), 0, 'and not as markup: it was escaped')
  t.equal(await byTestId(page, 'visits'), '2', 'the count went along with the new ID')
  const signedIn = await sessionCookie(context, main.url)
  t.ok(signedIn)
  t.not(signedIn!.value, anonymous!.value, 'a new cookie value: the session ID changed')
  t.match(signedIn, { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' })

  // Session fixation: whoever holds the pre-sign-in cookie holds nothing.
  const attacker = await newContext(browser)
  t.teardown(() => attacker.close())
  await attacker.addCookies([anonymous!])
  const attackerPage = await attacker.newPage()
  await attackerPage.goto(main.url + '/')
  t.equal(await byTestId(attackerPage, 'user'), '', 'the old ID does not sign anyone in')
  t.equal(await byTestId(attackerPage, 'visits'), '1', 'it is a fresh session')
})

t.test('sign-out removes the cookie, and the old value is worthless when replayed', opts, async (t) => {
  const context = await newContext(browser)
  t.teardown(() => context.close())
  const page = await context.newPage()
  await signIn(page, main.url, 'Grace')
  await page.reload()
  t.equal(await byTestId(page, 'visits'), '3')
  const signedIn = await sessionCookie(context, main.url)
  t.ok(signedIn)

  const logout = page.waitForResponse((r) => r.url() === main.url + '/logout', { timeout: WAIT })
  const after = page.waitForRequest((r) => r.url() === main.url + '/' && r.method() === 'GET', { timeout: WAIT })
  await page.getByTestId('logout').click()
  const logoutResponse = await logout
  t.equal(logoutResponse.status(), 303)
  const deletion = await setCookies(logoutResponse)
  t.equal(deletion.length, 1)
  t.match(deletion[0], /^__Host-session=;.*Expires=Thu, 01 Jan 1970/, 'the 303 deletes the cookie')
  const next = await after
  t.notMatch((await next.allHeaders()).cookie ?? '', /(?:^|; )__Host-session=/, 'the browser dropped it: the redirected GET / carries no session cookie')

  await page.getByTestId('login').waitFor()
  t.equal(await byTestId(page, 'user'), '', 'signed out')
  t.equal(await byTestId(page, 'visits'), '1', 'a new session starts at 1')
  t.equal(await byTestId(page, 'reason'), 'new', 'no cookie was sent, so the session is simply new')

  // Put the signed-in cookie back: the server destroyed that session.
  await context.clearCookies()
  await context.addCookies([signedIn!])
  await page.goto(main.url + '/')
  t.equal(await byTestId(page, 'user'), '', 'the replayed cookie signs no one in')
  t.equal(await byTestId(page, 'visits'), '1', 'visits back to 1')
  t.equal(await byTestId(page, 'reason'), 'not-found', 'the server no longer knows that ID')
  t.not((await sessionCookie(context, main.url))?.value, signedIn!.value, 'and the browser got a new cookie for the new session')
})

t.test('/public never receives a Set-Cookie, with or without a session', opts, async (t) => {
  const context = await newContext(browser)
  t.teardown(() => context.close())
  const page = await context.newPage()

  const cold = await page.goto(main.url + '/public')
  t.equal(cold?.status(), 200)
  t.same(await setCookies(cold!), [], 'no session yet: no cookie')
  t.equal(await sessionCookie(context, main.url), undefined)

  const home = await page.goto(main.url + '/')
  t.equal((await setCookies(home!)).length, 1, '/ sets the cookie (control)')
  const cookie = await sessionCookie(context, main.url)

  const warm = await page.goto(main.url + '/public')
  t.match((await warm!.request().allHeaders()).cookie, /(?:^|; )__Host-session=/, 'the browser sent the session cookie to /public')
  t.same(await setCookies(warm!), [], 'rolling is on, yet /public answers without Set-Cookie: it never loaded the session')
  t.equal(warm?.headers()['cache-control'], 'no-store')
  t.same(await sessionCookie(context, main.url), cookie, 'the browser cookie is untouched')
})

t.test('rolling moves the expiry forward; fixed mode does not', opts, async (t) => {
  const rollingContext = await newContext(browser)
  const fixedContext = await newContext(browser)
  t.teardown(() => Promise.all([rollingContext.close(), fixedContext.close()]))
  const rollingPage = await rollingContext.newPage()
  const fixedPage = await fixedContext.newPage()

  await Promise.all([rollingPage.goto(main.url + '/'), fixedPage.goto(fixed.url + '/')])
  const rolling1 = (await sessionCookie(rollingContext, main.url))!.expires
  const fixed1 = (await sessionCookie(fixedContext, fixed.url))!.expires
  await sleep(2200)
  const [, fixedSecond] = await Promise.all([rollingPage.reload(), fixedPage.reload()])
  t.equal(await byTestId(rollingPage, 'visits'), '2')
  t.equal(await byTestId(fixedPage, 'visits'), '2')
  const rolling2 = (await sessionCookie(rollingContext, main.url))!.expires
  const fixed2 = (await sessionCookie(fixedContext, fixed.url))!.expires

  t.ok(rolling2 - rolling1 > 1.5, `rolling: expires moved forward by ${(rolling2 - rolling1).toFixed(2)} s`)
  t.ok(Math.abs(fixed2 - fixed1) < 1.01, `fixed: expires stayed put (moved ${(fixed2 - fixed1).toFixed(2)} s)`)
  t.same(await setCookies(fixedSecond!), [], 'fixed: a changed session with an unchanged cookie sends no Set-Cookie')
})

t.test('an idle session is refused and the page says it expired', opts, async (t) => {
  const contexts = await Promise.all([newContext(browser), newContext(browser), newContext(browser)])
  t.teardown(() => Promise.all(contexts.map((context) => context.close())))
  const [memoryPage, cookiePage, activePage] = await Promise.all(contexts.map((context) => context.newPage())) as [Page, Page, Page]

  await Promise.all([
    signIn(memoryPage, idleMemory.url, 'Idle'),
    signIn(cookiePage, idleCookie.url, 'Idle'),
    signIn(activePage, idleMemory.url, 'Active')
  ])
  // Two pages stay idle for longer than IDLE_TIMEOUT; the third keeps loading the session every 0.3 s.
  const deadline = Date.now() + IDLE_TIMEOUT * 1000 + 1000
  let last = Date.now()
  let longestGap = 0
  while (Date.now() < deadline) {
    await sleep(300)
    await activePage.reload()
    longestGap = Math.max(longestGap, Date.now() - last)
    last = Date.now()
  }

  await Promise.all([memoryPage.reload(), cookiePage.reload(), activePage.reload()])
  for (const [store, page] of [['MemoryStore', memoryPage], ['CookieStore', cookiePage]] as const) {
    await page.getByTestId('expired').waitFor({ timeout: WAIT })
    t.ok(await page.getByTestId('expired').isVisible(), `${store}: the expired notice is shown`)
    t.equal(await byTestId(page, 'user'), '', `${store}: signed out`)
    t.equal(await byTestId(page, 'visits'), '1', `${store}: a new session`)
  }
  // CookieStore can always tell an expired session; MemoryStore drops the entry at the idle deadline,
  // after which the server cannot tell it from an unknown ID (SPEC: 'not-found').
  t.equal(await cookiePage.getByTestId('expired').getAttribute('data-reason'), 'expired', "CookieStore: reason 'expired'")
  t.match(await memoryPage.getByTestId('expired').getAttribute('data-reason'), /^(?:expired|not-found)$/, "MemoryStore: reason 'expired' or 'not-found'")

  t.equal(await byTestId(activePage, 'user'), 'Active',
    `a session in use stays alive past the idle timeout (longest gap between its requests: ${longestGap} ms)`)
  t.equal(await activePage.getByTestId('expired').count(), 0)
})

t.test('SameSite=Lax: the cookie stays home on a cross-site POST', opts, async (t) => {
  const context = await newContext(browser)
  t.teardown(() => context.close())
  const page = await context.newPage()
  await signIn(page, main.url, 'Lax')

  // http://127.0.0.1:PORT is another site than http://localhost:PORT (same server).
  await page.goto(`${main.otherSiteUrl}/e2e/whoami-form?host=localhost`)
  await page.getByTestId('post').click()
  await page.getByTestId('method').waitFor()
  t.equal(page.url(), main.url + '/whoami', 'the form landed on localhost')
  t.equal(await byTestId(page, 'method'), 'POST')
  t.equal(await byTestId(page, 'cookie-sent'), 'no', 'cross-site POST: Chromium withheld the cookie')
  t.equal(await byTestId(page, 'user'), '', 'so the server saw no signed-in user')

  await page.goto(`${main.otherSiteUrl}/e2e/whoami-form?host=localhost`)
  await page.getByTestId('get').click()
  await page.getByTestId('method').waitFor()
  t.equal(await byTestId(page, 'method'), 'GET')
  t.equal(await byTestId(page, 'cookie-sent'), 'yes', 'cross-site top-level GET link: Lax sends the cookie')
  t.equal(await byTestId(page, 'user'), 'Lax')

  await page.goto(`${main.url}/e2e/whoami-form?host=localhost`)
  await page.getByTestId('post').click()
  await page.getByTestId('method').waitFor()
  t.equal(await byTestId(page, 'method'), 'POST')
  t.equal(await byTestId(page, 'cookie-sent'), 'yes', 'same-site POST: the cookie is sent')
  t.equal(await byTestId(page, 'user'), 'Lax', 'and the server sees the user')

  await page.goto(main.url + '/')
  t.equal(await byTestId(page, 'user'), 'Lax', 'the cookieless cross-site POST did not sign the browser out')
})

t.test('screenshot of the signed-in page for the README', opts, async (t) => {
  const context = await browser.newContext({ viewport: { width: 800, height: 420 }, deviceScaleFactor: 1 })
  t.teardown(() => context.close())
  context.setDefaultTimeout(WAIT)
  const page = await context.newPage()
  await page.goto(main.url + '/')
  await page.reload()
  await signIn(page, main.url, 'Ada Lovelace')
  // Taken on every run; written to docs/ only when asked, so CI never changes the repository.
  const png = await page.screenshot({ fullPage: true })
  t.equal(png.subarray(1, 4).toString('latin1'), 'PNG')
  t.ok(png.length > 5000, 'the page rendered into a picture')
  if (process.env.UPDATE_SCREENSHOT === '1') writeFileSync(SCREENSHOT, png)
})
