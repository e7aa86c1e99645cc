// bench/chart.mjs: the chart is drawn from a results file's numbers, and the committed one is up to date.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { uncoveredEnv } from './fixtures/app.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const chart = path.join(root, 'bench', 'chart.mjs')

function tempDir (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lazy-session-chart-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

async function draw (t: Test, results: unknown): Promise<string> {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results))
  await run(process.execPath, [chart, path.join(dir, 'results.json'), path.join(dir, 'chart.svg')], { env: uncoveredEnv() })
  return readFileSync(path.join(dir, 'chart.svg'), 'utf8')
}

t.test('docs/benchmarks.svg is what bench/chart.mjs draws from bench/results-README.json', async (t) => {
  const dir = tempDir(t)
  const out = path.join(dir, 'chart.svg')
  await run(process.execPath, [chart, path.join(root, 'bench', 'results-README.json'), out], { env: uncoveredEnv() })
  t.equal(readFileSync(out, 'utf8'), readFileSync(path.join(root, 'docs', 'benchmarks.svg'), 'utf8'),
    'regenerate it with: node bench/chart.mjs bench/results-README.json docs/benchmarks.svg')
})

t.test('a raw run (bench/results/latest.json): each sample over the bare sample measured next to it, median over rounds', async (t) => {
  const svg = await draw(t, {
    date: '2026-12-02T00:00:00.000Z',
    machine: { nproc: 2, model: 'Test CPU', node: 'v20.0.0', redis: '7.0.0' },
    subjects: [
      { name: 'bare', samples: { none: [1000, 2000, 3000], read: [1000, 2000, 3000], write: [1000, 2000, 3000] } },
      { name: 'lazy-memory', samples: { none: [990, 1980, 2970], read: [800, 1600, 2600], write: [700, 1500, 2000] }, ref: { none: [1000, 2000, 3000], read: [1000, 2000, 3000], write: [1000, 2000, 3000] } },
      { name: 'fsession-memory', samples: { none: [500, 500, 500], read: [400, 400, 400], write: [300, 300, 300] } }
    ]
  })
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  t.match(svg, 'fastify-lazy-session GET /none: 0.99× bare Fastify')
  t.match(svg, 'fastify-lazy-session GET /read: 0.80× bare Fastify', 'median of 0.80, 0.80, 0.87')
  t.match(svg, 'fastify-lazy-session GET /write: 0.70× bare Fastify', 'median of 0.70, 0.75, 0.67')
  t.match(svg, '@fastify/session GET /read: 0.20× bare Fastify', 'without reference pairs: median over median of bare')
  t.notMatch(svg, 'secure-session', 'subjects that did not run are left out')
  t.match(svg, '2026-12-02 · 2 CPUs, Test CPU, Node v20.0.0, redis-server 7.0.0')
})

t.test('a results file with ratios only', async (t) => {
  const svg = await draw(t, { ratiosVsBare: { 'lazy-cookie': { none: 0.97, read: 0.87, write: 0.55 }, 'secure-session': { write: 0.61 } } })
  t.match(svg, 'fastify-lazy-session GET /write: 0.55× bare Fastify')
  t.match(svg, '@fastify/secure-session GET /write: 0.61× bare Fastify')
  t.notMatch(svg, '@fastify/secure-session GET /read', 'a missing value draws no bar')
})

t.test('usage', async (t) => {
  await t.rejects(run(process.execPath, [chart], { env: uncoveredEnv() }), { code: 2, stderr: /usage: node bench\/chart\.mjs <results\.json> <out\.svg>/ })
})
