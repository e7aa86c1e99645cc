import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { uncoveredEnv } from './fixtures/app.ts'
import { startRedis, uniquePrefix, within } from './fixtures/redis.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const driver = fileURLToPath(new URL('fixtures/run-example.mjs', import.meta.url))

interface Report {
  statuses: string[]
  /** the cookie values of the run's sessions, which no metric or span may contain */
  secrets: string[]
  metrics?: string
  spans?: Array<{
    name: string
    kind: number
    attributes: Record<string, string>
    status: number
    exception: boolean
    events: Array<{ name: string, attributes: Record<string, string> }>
    spanId: string
    parentSpanId: string | null
  }>
}

const SEQUENCE = ['GET / 200', 'GET / 200', 'GET / 200', 'GET / 200', 'POST /login 200', 'POST /logout 200', 'GET /whoami 200', 'GET /whoami 200', 'GET /whoami 200', 'GET /whoami 503']

/** Runs the example through test/fixtures/run-example.mjs (3 visitors, a visit, a login, a logout, refusals, a Redis failure). */
async function run (t: Test, example: 'metrics' | 'otel'): Promise<Report> {
  t.ok(existsSync(new URL('../dist/index.js', import.meta.url)), 'dist/ is built (npm run build): the examples import the package')
  const server = await startRedis(t)
  const { stdout } = await promisify(execFile)(process.execPath, [driver, example], {
    cwd: root, env: uncoveredEnv({ REDIS_URL: server.url, PREFIX: uniquePrefix() }), encoding: 'utf8', timeout: 60_000
  })
  const report = JSON.parse(stdout) as Report
  t.same(report.statuses, SEQUENCE)
  return report
}

/** `name{a="x",b="y"} value` lines → "name{a=x,b=y}" (labels sorted) → value. */
function parseMetrics (text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) continue
    const labels = (match[2] ?? '').split(',').filter(Boolean).map((pair) => pair.replace(/"/g, '')).sort().join(',')
    values.set(`${match[1] as string}{${labels}}`, Number(match[3]))
  }
  return values
}

t.test('examples/metrics.mjs: counters per event and store latency by operation, after a known sequence', async (t) => {
  const report = await run(t, 'metrics')
  const metrics = parseMetrics(report.metrics as string)
  const event = (name: string, reason?: string): number | undefined =>
    metrics.get(`session_events_total{event=${name},${reason === undefined ? '' : `reason=${reason},`}store=RedisStore}`)
  t.equal(event('created'), 3, 'three visitors: three sessions created')
  t.equal(event('loaded'), 3)
  t.equal(event('saved'), 5, 'three creations, a visit, a login')
  t.equal(event('regenerated'), 1, 'the login')
  t.equal(event('destroyed'), 1, 'the logout')
  t.equal(event('refused', 'invalid'), 1, 'the forged cookie')
  t.equal(event('refused', 'not-found'), 1, 'the logged-out cookie')
  t.equal(event('refused', 'expired'), 1, 'the visitor idle for more than idleTimeout')
  const calls = (operation: string, outcome: string): number | undefined =>
    metrics.get(`session_store_duration_seconds_count{operation=${operation},outcome=${outcome},store=RedisStore}`)
  t.equal(calls('save', 'ok'), 5)
  t.equal(calls('load', 'ok'), 5, 'every request with a signed cookie but the last')
  t.equal(calls('destroy', 'ok'), 3, 'the login, the logout, and the expired session')
  t.equal(calls('load', 'error'), 1, 'Redis gone: one failed load')
  t.ok((metrics.get('session_store_duration_seconds_sum{operation=load,outcome=ok,store=RedisStore}') as number) > 0, 'latency measured')
  for (const secret of report.secrets) t.notOk((report.metrics as string).includes(secret), 'no cookie value in the metrics')
})

t.test('examples/otel.mjs: a span per store call under the request\'s span, lifecycle events on the request\'s span', async (t) => {
  const report = await run(t, 'otel')
  const spans = report.spans ?? []
  const store = spans.filter((span) => span.name.startsWith('session.'))
  const requests = new Map(spans.filter((span) => !span.name.startsWith('session.')).map((span) => [span.spanId, span]))
  t.equal(requests.size, SEQUENCE.length, 'one span per request (the test\'s stand-in for an HTTP instrumentation)')
  const count = (name: string, status = 0): number => store.filter((span) => span.name === name && span.status === status).length
  t.equal(count('session.save'), 5)
  t.equal(count('session.load'), 5)
  t.equal(count('session.destroy'), 3)
  t.equal(count('session.load', 2), 1, 'the failed load: status ERROR')
  t.equal(store.length, 14)
  for (const span of store) {
    t.equal(span.kind, 2, `${span.name}: a CLIENT span`)
    t.equal(span.attributes['session.store'], 'RedisStore')
    t.equal(span.attributes['session.operation'], span.name.slice('session.'.length))
    t.match(span.attributes['session.handle'], /^[\w-]{22}$/, 'the session\'s handle')
    t.ok(requests.has(span.parentSpanId as string), `${span.name}: a child of its request's span`)
    t.equal(span.exception, span.status === 2, 'the exception recorded on the failed call only')
  }
  const events = [...requests.values()].map((span) => span.events.map((event) => event.attributes['session.reason'] === undefined ? event.name : `${event.name}:${event.attributes['session.reason']}`))
  t.same(events, [
    ['session.created', 'session.saved'],
    ['session.created', 'session.saved'],
    ['session.created', 'session.saved'],
    ['session.loaded', 'session.saved'],
    ['session.loaded', 'session.regenerated', 'session.saved'],
    ['session.loaded', 'session.destroyed'],
    ['session.refused:invalid'],
    ['session.refused:not-found'],
    ['session.refused:expired'],
    []
  ], 'each request span carries its lifecycle events, in order')
  const text = JSON.stringify(spans)
  for (const secret of report.secrets) {
    t.notOk(text.includes(secret), 'no cookie value in any span')
    t.notOk(text.includes(secret.slice(0, 32)), 'nor a session ID')
  }
})

/** Starts an example as its own server (`node examples/x.mjs`, PORT=0), resolves with its URL and output; killed at the end of `t`. */
async function serve (t: Test, example: string): Promise<{ url: string, printed: (pattern: RegExp) => Promise<string> }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(`../examples/${example}`, import.meta.url))], {
    cwd: root, env: uncoveredEnv({ PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exit = once(child, 'exit')
    child.kill('SIGTERM')
    await exit
  })
  /** Resolves with the first match of `pattern` in what the example printed, once it has printed it. */
  const printed = (pattern: RegExp): Promise<string> => within(20_000, new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const match = pattern.exec(output)
      if (match !== null) resolve(match[1] ?? match[0])
    }
    check()
    child.stdout.on('data', check)
    child.on('exit', () => { reject(new Error(`the example exited:\n${output}`)) })
  }))
  const url = await printed(/listening on (http:\/\/\S+)/)
  return { url, printed }
}

t.test('examples/metrics.mjs runs as a server: /metrics counts its own requests', async (t) => {
  const { url } = await serve(t, 'metrics.mjs')
  const first = await fetch(`${url}/`)
  const cookie = (first.headers.get('set-cookie') as string).split(';', 1)[0] as string
  t.same(await (await fetch(`${url}/`, { headers: { cookie } })).json(), { visits: 2 })
  const metrics = parseMetrics(await (await fetch(`${url}/metrics`)).text())
  t.equal(metrics.get('session_events_total{event=created,store=MemoryStore}'), 1)
  t.equal(metrics.get('session_events_total{event=loaded,store=MemoryStore}'), 1)
  t.equal(metrics.get('session_store_duration_seconds_count{operation=save,outcome=ok,store=MemoryStore}'), 2)
})

t.test('examples/otel.mjs runs as a server: its store spans go to the console', async (t) => {
  const { url, printed } = await serve(t, 'otel.mjs')
  t.same(await (await fetch(`${url}/`)).json(), { visits: 1 })
  const span = await printed(/name: 'session\.save'[\s\S]*?attributes: \{[^}]*\}/)
  t.match(span, /'session\.store': 'MemoryStore'/)
  t.match(span, /'session\.operation': 'save'/)
})
