// `npm start`: the demo on http://localhost:3000 (settings: see configFromEnv in app.mjs and docs/demo.md).
import { buildDemo, configFromEnv } from './app.mjs'

const config = configFromEnv(process.env)
for (const warning of config.warnings) console.warn(`warning: ${warning}`)
const app = await buildDemo(config.options)
await app.listen({ host: config.host, port: config.port })
const { port } = app.server.address()
const loopback = config.host === '127.0.0.1' || config.host === 'localhost' || config.host === '::1'
const host = loopback ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host
console.log(`fastify-lazy-session demo listening on http://${host}:${port}`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0), (error) => { console.error(error); process.exit(1) })
  })
}
