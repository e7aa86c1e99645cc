import t from 'tap'
import { SessionNotLoadedError } from '../lib/errors.ts'
t.test('error code', async t => {
  const e = new SessionNotLoadedError()
  t.equal(e.code, 'FST_SESSION_NOT_LOADED')
})
