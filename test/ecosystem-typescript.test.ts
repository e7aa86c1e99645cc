// An app using @fastify/passport, @fastify/csrf-protection and this plugin type-checks under `strict`, in a project
// laid out like a user's: the packages an app installs, the plugin's published declarations (dist/), and without
// @fastify/secure-session, which @fastify/flash's declarations (pulled in by @fastify/passport's) import but which
// is no dependency of either. Needs `npm run build` first.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { uncoveredEnv } from './fixtures/app.ts'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const MODULES = path.join(ROOT, 'node_modules')
const TSC = path.join(MODULES, 'typescript', 'bin', 'tsc')
const APP = fileURLToPath(new URL('./fixtures/passport-app.ts', import.meta.url))
/** Installed here for the benchmark and the migration, not by an app that uses this plugin with passport. */
const NOT_INSTALLED = new Set(['@fastify/secure-session', '@fastify/session', '.bin', '.package-lock.json'])

t.setTimeout(180_000)
if (!existsSync(path.join(ROOT, 'dist', 'index.d.ts'))) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does)')

/** A project directory: package.json, tsconfig.json, app.ts, and node_modules linking every package but NOT_INSTALLED. */
function userProject (skipLibCheck: boolean): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lazy-session-ts-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const modules = path.join(dir, 'node_modules')
  mkdirSync(modules)
  for (const entry of readdirSync(MODULES)) {
    if (NOT_INSTALLED.has(entry)) continue
    if (entry.startsWith('@')) {
      mkdirSync(path.join(modules, entry))
      for (const name of readdirSync(path.join(MODULES, entry))) {
        if (!NOT_INSTALLED.has(`${entry}/${name}`)) symlinkSync(path.join(MODULES, entry, name), path.join(modules, entry, name))
      }
    } else {
      symlinkSync(path.join(MODULES, entry), path.join(modules, entry))
    }
  }
  // The plugin as npm installs it: its package.json and its declarations.
  const self = path.join(modules, 'fastify-lazy-session')
  mkdirSync(self)
  copyFileSync(path.join(ROOT, 'package.json'), path.join(self, 'package.json'))
  symlinkSync(path.join(ROOT, 'dist'), path.join(self, 'dist'))
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }))
  copyFileSync(APP, path.join(dir, 'app.ts'))
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      noEmit: true,
      skipLibCheck,
      // Resolve through the links as if the packages were in this project, as an install puts them.
      preserveSymlinks: true,
      types: ['node']
    },
    files: ['app.ts']
  }))
  return dir
}

function tsc (dir: string): Promise<{ code: number, output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', dir], { cwd: dir, env: uncoveredEnv() }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : 1), output: stdout + stderr })
    })
  })
}

t.test('with skipLibCheck (the tsc --init default) the passport app type-checks against our types', async (t) => {
  const { code, output } = await tsc(userProject(true))
  t.equal(output, '', 'no errors')
  t.equal(code, 0)
})

t.test('without skipLibCheck the only errors are in @fastify/flash: it imports @fastify/secure-session, which is not installed', async (t) => {
  const { code, output } = await tsc(userProject(false))
  t.not(code, 0)
  const errors = output.split('\n').filter((line) => /error TS\d+/.test(line))
  t.ok(errors.length > 0, 'tsc reports errors')
  for (const line of errors) t.match(line, /^node_modules\/@fastify\/flash\/.*@fastify\/secure-session/, line)
})
