// The demo's sign-in (@fastify/passport, local strategy), CSRF protection, flash messages and "Your devices" page
// in headless Chromium. Beside test/e2e-browser.test.ts rather than in it: each file stays well inside tap's
// per-file time limit on a loaded 2-core machine. Needs `npm run build` first and /usr/bin/chromium.
import t, { type Test } from 'tap'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { WAIT, assertBuilt, byTestId, launchBrowser, newContext, sessionCookie, signIn, startDemo, submitSignIn, type DemoServer } from './fixtures/browser.ts'

// Every wait is bounded by WAIT, never by a tight margin; the file's own limit leaves room on a busy machine.
t.setTimeout(240_000)
assertBuilt()
const browser: Browser = await launchBrowser()
// The devices tests count a user's sessions: each gets a server of its own, where no other test signed in.
const [demo, revokeOneDemo, revokeOthersDemo] = await Promise.all([startDemo(), startDemo(), startDemo()]) as [DemoServer, DemoServer, DemoServer]
t.teardown(async () => {
  await browser.close()
  await Promise.all([demo.stop(), revokeOneDemo.stop(), revokeOthersDemo.stop()])
})

const opts = { timeout: 60_000 }

/** A browser of its own (own cookie jar, own user agent) with one page. */
async function openBrowser (t: Test, userAgent?: string): Promise<{ context: BrowserContext, page: Page }> {
  const context = await newContext(browser, userAgent === undefined ? {} : { userAgent })
  t.teardown(() => context.close())
  return { context, page: await context.newPage() }
}

/** The flash messages on the page, as `type: text`. */
async function flashes (page: Page): Promise<string[]> {
  const notes = page.getByTestId('flash')
  const texts: string[] = []
  for (let i = 0; i < await notes.count(); i++) {
    const note = notes.nth(i)
    texts.push(`${await note.getAttribute('data-type')}: ${((await note.textContent()) ?? '').trim()}`)
  }
  return texts
}

t.test('a wrong password shows the flash message once and signs no one in', opts, async (t) => {
  const { page } = await openBrowser(t)
  await submitSignIn(page, demo.url, 'ada', 'not-her-password')
  await page.getByTestId('flash').waitFor()
  t.equal(new URL(page.url()).pathname, '/', 'back on the home page')
  t.same(await flashes(page), ['error: Wrong name or password.'])
  t.equal(await byTestId(page, 'user'), '', 'not signed in')
  t.equal(await page.getByTestId('logout').count(), 0, 'the sign-in form is still there')
  t.equal(await page.getByTestId('devices-link').count(), 0, 'no devices link for a visitor')

  await page.reload()
  t.same(await flashes(page), [], 'the message is gone on the next page')
  t.equal(await byTestId(page, 'user'), '')

  await submitSignIn(page, demo.url, 'nobody', 'lovelace')
  await page.getByTestId('flash').waitFor()
  t.same(await flashes(page), ['error: Wrong name or password.'], 'an unknown name gets the same message')
  t.match(await byTestId(page, 'demo-users'), /ada \/ lovelace.*grace \/ hopper/, 'the page names the demo users')
})

t.test('sign-in shows "Signed in." once and links the devices page', opts, async (t) => {
  const { page } = await openBrowser(t)
  await signIn(page, demo.url, 'grace')
  t.equal(await byTestId(page, 'user'), 'grace')
  t.same(await flashes(page), ['success: Signed in.'])
  await page.reload()
  t.same(await flashes(page), [], 'shown once')
  t.equal(await byTestId(page, 'user'), 'grace', 'still signed in')
  await page.getByTestId('devices-link').click()
  await page.getByTestId('revoke-others').waitFor()
  t.equal(new URL(page.url()).pathname, '/devices')
})

t.test('a POST without the CSRF token, or with a wrong one, is refused', opts, async (t) => {
  const { context, page } = await openBrowser(t)
  await signIn(page, demo.url, 'ada')

  // The browser context's own request API: same cookies, no form on a page of the site.
  const bare = await context.request.post(demo.url + '/logout', { form: {}, maxRedirects: 0 })
  t.equal(bare.status(), 403, 'sign-out without a token → 403')
  t.match(await bare.text(), /data-testid="forbidden"/)
  const wrong = await context.request.post(demo.url + '/logout', { form: { _csrf: 'made-up-token' }, maxRedirects: 0 })
  t.equal(wrong.status(), 403, 'with a made-up token → 403')
  await page.reload()
  t.equal(await byTestId(page, 'user'), 'ada', 'neither POST signed the browser out')

  const { context: visitor, page: visitorPage } = await openBrowser(t)
  await visitorPage.goto(demo.url + '/')
  const login = await visitor.request.post(demo.url + '/login', { form: { username: 'grace', password: 'hopper' }, maxRedirects: 0 })
  t.equal(login.status(), 403, 'sign-in with the right password but no token → 403')
  await visitorPage.reload()
  t.equal(await byTestId(visitorPage, 'user'), '', 'and no one is signed in')

  const revoke = await context.request.post(demo.url + '/devices/revoke-others', { form: {}, maxRedirects: 0 })
  t.equal(revoke.status(), 403, 'the devices page forms are protected too')
})

t.test('sign-out through the form ends the session', opts, async (t) => {
  const { context, page } = await openBrowser(t)
  await signIn(page, demo.url, 'ada')
  const signedIn = await sessionCookie(context, demo.url)
  t.ok(signedIn, 'a session cookie while signed in')
  await page.getByTestId('logout').click()
  await page.getByTestId('login').waitFor()
  t.equal(await byTestId(page, 'user'), '', 'signed out')
  t.not((await sessionCookie(context, demo.url))?.value, signedIn!.value, 'the signed-in cookie is gone')
})

t.test('two browsers as the same user: revoking the second from the first signs it out at its next request', opts, async (t) => {
  const first = await openBrowser(t, 'Demo Browser One/1.0')
  const second = await openBrowser(t, 'Demo Browser Two/2.0')
  await signIn(first.page, revokeOneDemo.url, 'grace')
  await signIn(second.page, revokeOneDemo.url, 'grace')

  await first.page.goto(revokeOneDemo.url + '/devices')
  const rows = first.page.getByTestId('device')
  await rows.first().waitFor()
  t.equal(await rows.count(), 2, 'both sessions of grace are listed')
  const mine = first.page.locator('[data-testid="device"][data-current="true"]')
  t.equal(await mine.count(), 1, 'one of them is marked')
  t.match(await mine.textContent(), /Demo Browser One\/1\.0[\s\S]*This device/, 'this browser, by its user agent, marked "This device"')
  const other = first.page.locator('[data-testid="device"][data-current="false"]')
  t.match(await other.textContent(), /Demo Browser Two\/2\.0/, 'the other browser, by its user agent')
  t.equal(await mine.getByTestId('revoke').count(), 0, 'no revoke button for this device')

  await other.getByTestId('revoke').click()
  await first.page.getByTestId('flash').waitFor()
  t.same(await flashes(first.page), ['success: That device is signed out.'])
  t.equal(await first.page.getByTestId('device').count(), 1, 'one session left')

  await second.page.reload()
  t.equal(await byTestId(second.page, 'user'), '', 'the second browser is signed out at its next request')
  t.match(await second.page.getByTestId('expired').getAttribute('data-reason'), /^(?:not-found|revoked)$/, 'and told its session ended')

  await first.page.goto(revokeOneDemo.url + '/')
  t.equal(await byTestId(first.page, 'user'), 'grace', 'the first browser stays signed in')
})

t.test('"Sign out everywhere else" ends every other session of the user and no one else\'s', opts, async (t) => {
  const [a, b, c, stranger] = await Promise.all([
    openBrowser(t, 'Browser A'), openBrowser(t, 'Browser B'), openBrowser(t, 'Browser C'), openBrowser(t, 'Browser D')
  ])
  for (const browser of [a, b, c]) await signIn(browser.page, revokeOthersDemo.url, 'ada')
  await signIn(stranger.page, revokeOthersDemo.url, 'grace')

  await a.page.goto(revokeOthersDemo.url + '/devices')
  await a.page.getByTestId('device').first().waitFor()
  t.equal(await a.page.getByTestId('device').count(), 3, 'three sessions of ada (grace\'s is not listed)')
  await a.page.getByTestId('revoke-others').click()
  await a.page.getByTestId('flash').waitFor()
  t.same(await flashes(a.page), ['success: Signed out 2 other sessions.'])
  t.equal(await a.page.getByTestId('device').count(), 1, 'only this one left')

  for (const [name, browser] of [['B', b], ['C', c]] as const) {
    await browser.page.reload()
    t.equal(await byTestId(browser.page, 'user'), '', `browser ${name} is signed out`)
  }
  await a.page.goto(revokeOthersDemo.url + '/')
  t.equal(await byTestId(a.page, 'user'), 'ada', 'the browser that asked stays signed in')
  await stranger.page.reload()
  t.equal(await byTestId(stranger.page, 'user'), 'grace', 'another user is not touched')
  await stranger.page.goto(revokeOthersDemo.url + '/devices')
  await stranger.page.getByTestId('device').first().waitFor({ timeout: WAIT })
  t.equal(await stranger.page.getByTestId('device').count(), 1)
})
