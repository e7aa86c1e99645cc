// The load generator: a long-lived process (pinned to the load core by run.mjs) that runs one
// autocannon measurement per IPC message `{ id, opts: { url, connections, pipelining, duration, headers, cookies? } }`
// (`overallRate`: a fixed request rate instead of as fast as possible) and answers `{ id, result }`. Exits when the parent disconnects.

import autocannon from 'autocannon'

if (!process.send) {
  console.error('bench/load.mjs is started by bench/run.mjs')
  process.exit(2)
}

process.on('disconnect', () => process.exit(0))

process.on('message', async ({ id, opts }) => {
  try {
    // Several sessions: every request takes the next cookie of the list (one counter for all connections,
    // so the requests in flight carry different sessions). autocannon rebuilds such a request each time.
    const path = new URL(opts.url).pathname
    let next = 0
    const requests = opts.cookies?.length > 1
      ? [{
          method: 'GET',
          path,
          setupRequest: (req) => {
            req.headers = { cookie: opts.cookies[next++ % opts.cookies.length] }
            return req
          }
        }]
      : undefined
    const r = await autocannon({
      url: opts.url,
      connections: opts.connections,
      pipelining: opts.pipelining,
      duration: opts.duration,
      headers: opts.headers,
      requests,
      // a fixed request rate over all connections (the latency table); absent: as fast as the server answers
      ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
      timeout: 10
    })
    process.send({
      id,
      result: {
        ok: r['2xx'],
        total: r.requests.total,
        duration: r.duration,
        rps: r.duration > 0 ? r['2xx'] / r.duration : 0,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        latencyP50: r.latency.p50,
        latencyP99: r.latency.p99,
        latencyMax: r.latency.max
      }
    })
  } catch (err) {
    process.send({ id, error: String(err?.stack ?? err) })
  }
})
