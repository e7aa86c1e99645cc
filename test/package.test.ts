// What `npm publish` would ship, and that it works when installed from the tarball into a fresh folder.
import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { cookieOf, startExample } from './fixtures/example.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

// Installing runs npm against its cache (and the registry for what is missing): minutes on a busy machine.
t.setTimeout(600_000)

/** The environment for a child npm: none of the `npm test` run's own lifecycle and package variables. */
function npmEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('npm_') && !/^npm_config_(cache|registry|userconfig|globalconfig)$/i.test(name)) continue
    if (name === 'NODE_OPTIONS' || name === 'NODE_V8_COVERAGE' || name.startsWith('_TAPJS')) continue
    env[name] = value
  }
  return env
}

async function npm (args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

t.before(() => {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is not built: run `npm run build`')
})

const readme = readFileSync(path.join(root, 'README.md'), 'utf8')

t.test('npm pack: the tarball holds dist/, README and LICENSE, and nothing of the tests, benchmarks or demo', async (t) => {
  const [pack] = JSON.parse(await npm(['pack', '--dry-run', '--json', '--ignore-scripts'], root)) as Array<{ files: Array<{ path: string }> }>
  const files = (pack?.files ?? []).map((file) => file.path)
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/conformance.js', 'dist/conformance.d.ts']) {
    t.ok(files.includes(needed), `${needed} is in the tarball`)
  }
  t.same(files.filter((file) => /^(test|bench|demo|soak|examples|lib|types|\.ci)\//.test(file)), [], 'no tests, benchmarks, demo, soak scripts, examples or sources')
  t.same(files.filter((file) => file.endsWith('.map') || (file.endsWith('.ts') && !file.endsWith('.d.ts'))), [], 'no source maps, no TypeScript sources')
  // Every image the README shows from the package's own files (through a CDN URL, so that it renders on npm) is shipped.
  for (const [, file] of readme.matchAll(/https:\/\/cdn\.jsdelivr\.net\/npm\/fastify-lazy-session(?:@[^/]+)?\/([^)\s"]+)/g)) {
    t.ok(files.includes(file as string), `${file} (shown in the README) is in the tarball`)
  }
  const license = readFileSync(path.join(root, 'LICENSE'), 'utf8')
  t.match(license, /^MIT License/)
  t.match(license, /fastify-lazy-session contributors/)
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { license: string }
  t.equal(manifest.license, 'MIT')
})

t.test('the README stays a five-minute reference: at most 20 KB, and keeps the commands a contributor looks for', async (t) => {
  t.ok(Buffer.byteLength(readme) <= 20 * 1024, `README.md is ${Buffer.byteLength(readme)} bytes`)
  t.match(readme, 'npm install && npm start')
  t.match(readme, 'npm install && npm test')
})

t.test('the packed tarball installs into a fresh folder and runs the Quick start in ESM and CommonJS', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lazy-session-package-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  await npm(['pack', '--ignore-scripts', '--pack-destination', dir], root)
  const tarball = readdirSync(dir).find((file) => file.endsWith('.tgz'))
  if (tarball === undefined) throw new Error('npm pack wrote no tarball')
  const app = path.join(dir, 'app')
  // What `npm init -y` writes: no "type" field, so .js is CommonJS and the Quick start needs .mjs (README, "ESM").
  await run('mkdir', [app])
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, tarball)], app)

  const installed = path.join(app, 'node_modules', 'fastify-lazy-session')
  const js = readdirSync(path.join(installed, 'dist'), { recursive: true }).map(String).filter((file) => file.endsWith('.js'))
  t.ok(js.length > 0, 'the package has its JavaScript')
  t.same(js.filter((file) => readFileSync(path.join(installed, 'dist', file), 'utf8').includes('sourceMappingURL')), [],
    'no .js points to a source map that is not shipped')

  for (const file of ['quickstart.mjs', 'quickstart.cjs']) {
    copyFileSync(path.join(root, 'examples', file), path.join(app, file))
    const server = await startExample(t, path.join(app, file), {}, app)
    const first = await fetch(server.url + '/')
    t.equal(first.status, 200, `${file}: 200`)
    t.same(await first.json(), { visits: 1 }, `${file}: a new session`)
    const cookie = cookieOf(first)
    t.ok(cookie, `${file}: a session cookie`)
    const second = await fetch(server.url + '/', { headers: { cookie: cookie ?? '' } })
    t.same(await second.json(), { visits: 2 }, `${file}: the cookie brings the session back`)
    t.equal(await server.stop(), 'SIGTERM')
  }
})
