import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { uncoveredEnv } from './fixtures/app.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const fixture = fileURLToPath(new URL('fixtures/require.cjs', import.meta.url))

t.test('the built package works from CommonJS require()', async (t) => {
  t.ok(existsSync(new URL('../dist/index.js', import.meta.url)), 'dist/ is built (npm run build)')
  const output = execFileSync(process.execPath, [fixture], { cwd: root, env: uncoveredEnv(), encoding: 'utf8' })
  t.same(JSON.parse(output), { plugin: 'function', named: true, stores: ['function', 'function', 'function'], visits: [1, 2], registeredWhole: true })
})
