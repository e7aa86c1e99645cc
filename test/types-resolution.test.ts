// The built declarations compile for every kind of TypeScript consumer, with skipLibCheck off.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { uncoveredEnv } from './fixtures/app.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')

// Imports the whole public surface (whatever it holds) and uses the parts every release keeps.
const CONSUMER = `import Fastify from 'fastify'
import session, * as lazy from 'fastify-lazy-session'
import * as conformance from 'fastify-lazy-session/conformance'

declare module 'fastify-lazy-session' {
  interface SessionData {
    userId: string
  }
}

const app = Fastify()
await app.register(session, {
  secret: ['a-secret-that-is-at-least-32-chars-long', 'an-older-secret-still-32-chars-long'],
  store: new lazy.MemoryStore(),
  lifetime: 3600,
  autoload: ['/account']
})
app.get('/account', { config: { session: { autoload: true } } }, async (request) => {
  const userId: string | undefined = request.session.get('userId')
  const loaded = await request.loadSession()
  return { userId, isNew: loaded.isNew }
})
app.setErrorHandler((error, _request, reply) => {
  if (error instanceof lazy.SessionNotLoadedError) return reply.code(error.statusCode).send(error.code)
  return reply.send(error)
})
export const surface: unknown[] = [lazy, conformance, Object.keys(lazy)]

// What must not compile:
// @ts-expect-error a typed key takes only its type
request0().session.set('userId', 1)
// @ts-expect-error autoload is a boolean or a list of paths
await app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', autoload: 'yes' })
// @ts-expect-error lifetime is a number of seconds
await app.register(session, { secret: 'a-secret-that-is-at-least-32-chars-long', lifetime: '3600' })
// @ts-expect-error secret is required
await app.register(session, {})

declare function request0 (): import('fastify').FastifyRequest
`

const CJS_CONSUMER = `import lazy = require('fastify-lazy-session')
import Fastify = require('fastify')

const app = Fastify()
void app.register(lazy.fastifyLazySession, { secret: 'a-secret-that-is-at-least-32-chars-long', store: new lazy.MemoryStore() })
export const surface: unknown[] = [lazy]
`

interface Mode { name: string, module: string, moduleResolution: string, file: string, type: 'module' | 'commonjs', extra?: Record<string, unknown> }

const MODES: Mode[] = [
  { name: 'nodenext (ESM)', module: 'nodenext', moduleResolution: 'nodenext', file: 'consumer.ts', type: 'module' },
  { name: 'nodenext (CommonJS, require of ESM)', module: 'nodenext', moduleResolution: 'nodenext', file: 'consumer.cts', type: 'module' },
  { name: 'node16 (ESM)', module: 'node16', moduleResolution: 'node16', file: 'consumer.ts', type: 'module' },
  { name: 'bundler', module: 'esnext', moduleResolution: 'bundler', file: 'consumer.ts', type: 'module' },
  // node10 projects set esModuleInterop: without it, Fastify's own declarations (pino) do not compile.
  { name: 'node10', module: 'commonjs', moduleResolution: 'node10', file: 'consumer.ts', type: 'commonjs', extra: { esModuleInterop: true } }
]

// Five full type checks of Fastify's and Node's declarations: ~7 s each on an idle core, minutes on a busy machine.
t.setTimeout(600_000)

t.before(() => {
  if (!existsSync(path.join(root, 'dist', 'index.d.ts'))) throw new Error('dist/ is not built: run `npm run build`')
})

/** A consumer project in a temporary folder whose node_modules holds this package (built) and Fastify. */
function project (t: Test, mode: Mode): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lazy-session-types-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true })
  symlinkSync(root, path.join(dir, 'node_modules', 'fastify-lazy-session'), 'dir')
  symlinkSync(path.join(root, 'node_modules', 'fastify'), path.join(dir, 'node_modules', 'fastify'), 'dir')
  symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'), 'dir')
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: mode.type }))
  writeFileSync(path.join(dir, 'consumer.ts'), mode.type === 'module' ? CONSUMER : CONSUMER.replace(/^await /gm, 'void ').replace('await app.register(session, {\n  secret: [', 'void app.register(session, {\n  secret: ['))
  writeFileSync(path.join(dir, 'consumer.cts'), CJS_CONSUMER)
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      module: mode.module,
      moduleResolution: mode.moduleResolution,
      target: 'ES2022',
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      types: ['node'],
      ...mode.extra
    },
    files: [mode.file]
  }))
  return dir
}

for (const mode of MODES) {
  t.test(`the declarations compile under moduleResolution ${mode.name}, skipLibCheck off`, async (t) => {
    const dir = project(t, mode)
    const result = await run(process.execPath, [tsc, '-p', dir], { cwd: dir, env: uncoveredEnv() }).then(
      () => ({ code: 0, output: '' }),
      (error: { code: number, stdout: string }) => ({ code: error.code, output: error.stdout })
    )
    t.equal(result.output, '', 'no compiler error')
    t.equal(result.code, 0)
  })
}

t.test('each case that must not compile fails without its @ts-expect-error (the checks above are not vacuous)', async (t) => {
  const dir = project(t, MODES[0] as Mode)
  const kept: string[] = []
  const mustFail: number[] = []
  for (const line of CONSUMER.split('\n')) {
    if (line.startsWith('// @ts-expect-error')) mustFail.push(kept.length + 1)
    else kept.push(line)
  }
  writeFileSync(path.join(dir, 'consumer.ts'), kept.join('\n'))
  const output = await run(process.execPath, [tsc, '-p', dir], { cwd: dir, env: uncoveredEnv() }).then(() => '', (error: { stdout: string }) => error.stdout)
  t.equal(mustFail.length, 4)
  for (const line of mustFail) t.match(output, `consumer.ts(${line},`, `line ${line} does not compile`)
  t.match(output, /Type 'string' is not assignable to type 'boolean \| \(string \| RegExp\)\[\] \| undefined'/, 'a wrong option type names the type expected')
})
