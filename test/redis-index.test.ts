import t from 'tap'
import { indexCases } from './fixtures/redis-index.ts'
import { cleanUp, connect, startRedis } from './fixtures/redis.ts'

const server = await startRedis(t)
const client = connect(t, server)
cleanUp(t, server, 'test:')

indexCases(t, {
  client,
  async keys (prefix) {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      keys.push(...found)
      cursor = next
    } while (cursor !== '0')
    return keys
  }
})
