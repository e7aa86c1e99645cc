// `node bench/chart.mjs <results.json> <out.svg>`: an SVG bar chart of req/s as a ratio of bare Fastify,
// per route, fastify-lazy-session beside each peer with the same kind of store. Every number comes from
// the results file: a run's bench/results/latest.json (raw samples) or a file with `ratiosVsBare`.
// `npm run bench` writes bench/results/latest.svg through this module.

import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROUTES = [
  { name: 'none', title: 'GET /none', note: 'never loads the session' },
  { name: 'read', title: 'GET /read', note: 'loads it, reads a key' },
  { name: 'write', title: 'GET /write', note: 'loads it, changes a key' }
]

// Rows, grouped by the kind of store; `ours` is drawn in colour, peers in grey, the Redis floor as an outline.
const GROUPS = [
  {
    title: 'Memory',
    rows: [
      { name: 'lazy-memory', label: 'fastify-lazy-session', kind: 'ours' },
      { name: 'fsession-memory', label: '@fastify/session', kind: 'peer' },
      { name: 'mgcrea-memory', label: '@mgcrea/fastify-session', kind: 'peer' }
    ]
  },
  {
    title: 'Cookie (whole session in the cookie)',
    rows: [
      { name: 'lazy-cookie', label: 'fastify-lazy-session', kind: 'ours' },
      { name: 'secure-session', label: '@fastify/secure-session', kind: 'peer' }
    ]
  },
  {
    title: 'Redis',
    rows: [
      { name: 'lazy-redis', label: 'fastify-lazy-session', kind: 'ours' },
      { name: 'fsession-redis', label: '@fastify/session + connect-redis', kind: 'peer' },
      { name: 'mgcrea-redis', label: '@mgcrea/fastify-session', kind: 'peer' },
      { name: 'redis-floor', label: 'Redis floor (ioredis, no crypto)', kind: 'floor' }
    ]
  }
]

function median (xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return null
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * Ratio to bare Fastify per subject and route. Raw runs: the median over the rounds of each sample over the
 * bare sample measured next to it (what bench/run.mjs reports), or of medians when the run has no such pairs.
 */
export function ratiosOf (results) {
  if (results.ratiosVsBare) return results.ratiosVsBare
  const by = Object.fromEntries((results.subjects ?? []).map((s) => [s.name, s]))
  const ratios = {}
  for (const s of results.subjects ?? []) {
    ratios[s.name] = {}
    for (const { name: route } of ROUTES) {
      const samples = s.samples?.[route]
      if (!samples) continue
      const refs = s.ref?.[route]
      let r = null
      if (refs?.some((x) => x != null)) {
        r = median(samples.map((x, i) => (x != null && refs[i] ? x / refs[i] : null)))
      } else if (by.bare?.samples?.[route]) {
        const bare = median(by.bare.samples[route])
        const m = median(samples)
        r = bare && m != null ? m / bare : null
      }
      if (s.name === 'bare') r = 1
      if (r != null) ratios[s.name][route] = r
    }
  }
  return ratios
}

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** The SVG text of the chart for one results file's content. */
export function renderChart (results) {
  const ratios = ratiosOf(results)
  const groups = GROUPS.map((g) => ({ ...g, rows: g.rows.filter((row) => ratios[row.name]) })).filter((g) => g.rows.length > 0)
  const labelWidth = 250
  const panelWidth = 230
  const panelGap = 44
  const barHeight = 16
  const rowHeight = 22
  const groupHeader = 22
  const top = 78
  const max = Math.max(1.2, ...Object.values(ratios).flatMap((r) => Object.values(r)).filter(Number.isFinite).map((x) => Math.ceil(x * 10) / 10))
  const rowsHeight = groups.reduce((h, g) => h + groupHeader + g.rows.length * rowHeight + 8, 0)
  const width = labelWidth + ROUTES.length * (panelWidth + panelGap)
  const height = top + rowsHeight + 58
  const x = (panel, value) => labelWidth + panel * (panelWidth + panelGap) + (value / max) * panelWidth
  const colours = { ours: '#2563eb', peer: '#9ca3af', floor: '#ffffff' }
  const m = results.machine
  const machine = typeof m === 'string' ? m : m ? `${m.nproc} CPUs, ${m.model}, Node ${m.node}, redis-server ${m.redis}` : null
  const when = [results.date?.slice(0, 10), machine].filter(Boolean).join(' · ')

  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12" role="img" aria-labelledby="title">`)
  out.push('<title id="title">Requests per second as a ratio of bare Fastify (1.0 = bare Fastify), per route: fastify-lazy-session beside each peer with the same kind of store</title>')
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(`<text x="12" y="24" font-size="15" font-weight="600" fill="#111827">Requests per second, as a ratio of bare Fastify (1.0 = bare Fastify; higher is better)</text>`)
  for (const [panel, route] of ROUTES.entries()) {
    const left = x(panel, 0)
    out.push(`<text x="${left}" y="52" font-weight="600" fill="#111827">${escape(route.title)}</text>`)
    out.push(`<text x="${left}" y="67" fill="#4b5563">${escape(route.note)}</text>`)
    for (const tick of [0, 0.5, 1]) {
      const tx = x(panel, tick)
      out.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${top + rowsHeight}" stroke="${tick === 1 ? '#111827' : '#e5e7eb'}" stroke-width="1"${tick === 1 ? ' stroke-dasharray="4 3"' : ''}/>`)
      out.push(`<text x="${tx}" y="${top + rowsHeight + 14}" text-anchor="middle" fill="#4b5563">${tick === 1 ? 'bare 1.0' : tick.toFixed(1)}</text>`)
    }
  }
  let y = top
  for (const group of groups) {
    out.push(`<text x="12" y="${y + 15}" font-weight="600" fill="#111827">${escape(group.title)}</text>`)
    y += groupHeader
    for (const row of group.rows) {
      const weight = row.kind === 'ours' ? ' font-weight="600"' : ''
      out.push(`<text x="24" y="${y + barHeight - 4}"${weight} fill="${row.kind === 'ours' ? '#1e40af' : '#374151'}">${escape(row.label)}</text>`)
      for (const [panel, route] of ROUTES.entries()) {
        const value = ratios[row.name]?.[route.name]
        if (!Number.isFinite(value)) continue
        const x0 = x(panel, 0)
        const w = Math.max(1, x(panel, value) - x0)
        const stroke = row.kind === 'floor' ? ' stroke="#6b7280" stroke-width="1" stroke-dasharray="3 2"' : ''
        out.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${colours[row.kind]}"${stroke}><title>${escape(`${row.label} ${route.title}: ${value.toFixed(2)}× bare Fastify`)}</title></rect>`)
        out.push(`<text x="${(x0 + w + 4).toFixed(1)}" y="${y + barHeight - 4}" fill="#111827"${weight}>${value.toFixed(2)}×</text>`)
      }
      y += rowHeight
    }
    y += 8
  }
  out.push(`<text x="12" y="${height - 24}" fill="#4b5563">${escape('Median over interleaved rounds of each sample ÷ the bare-Fastify sample measured next to it (npm run bench; method and tables in docs/benchmarks.md).')}</text>`)
  if (when) out.push(`<text x="12" y="${height - 8}" fill="#4b5563">${escape(when)}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** Reads a results file and writes its chart. */
export function writeChart (resultsFile, svgFile) {
  writeFileSync(svgFile, renderChart(JSON.parse(readFileSync(resultsFile, 'utf8'))))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [resultsFile, svgFile] = process.argv.slice(2)
  if (!resultsFile || !svgFile) {
    console.error('usage: node bench/chart.mjs <results.json> <out.svg>')
    process.exit(2)
  }
  writeChart(resultsFile, svgFile)
  console.error(`chart: ${svgFile}`)
}
