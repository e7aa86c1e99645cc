import t from 'tap'
import { RedisStore } from '../lib/stores/RedisStore.ts'
import { cleanUp, connect, startRedis, uniquePrefix, update } from './fixtures/redis.ts'

const server = await startRedis(t)
const admin = connect(t, server)
const client = connect(t, server)
const prefix = uniquePrefix()
cleanUp(t, server, prefix)
const store = new RedisStore({ client, prefix })
// The address Redis sees for the store's connection: MONITOR names the sender of every command.
const storeAddress = /addr=(\S+)/.exec(await client.client('INFO'))?.[1] as string

interface Seen { source: string, args: string[] }
const seen: Seen[] = []
const monitor = await connect(t, server).monitor()
monitor.on('monitor', (_time: string, args: string[], source: string) => { seen.push({ source, args }) })
t.teardown(() => { monitor.disconnect() })

let marks = 0
/** Sends a marker and resolves with its position in `seen` once MONITOR reports it: everything Redis ran before it is in `seen`. */
async function mark (): Promise<number> {
  const text = `mark-${++marks}`
  await admin.echo(text)
  while (true) {
    const index = seen.findIndex((command) => command.args[1] === text)
    if (index !== -1) return index
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The commands Redis received while `operation` ran: from the store's connection, and from inside its scripts. */
async function commandsOf (operation: () => Promise<unknown>): Promise<{ sent: string[][], scripted: string[][] }> {
  // MONITOR reports in the order Redis ran the commands: what lies between the two markers is the operation's.
  const begin = await mark()
  await operation()
  const between = seen.slice(begin + 1, await mark())
  return {
    sent: between.filter((command) => command.source === storeAddress).map((command) => command.args),
    scripted: between.filter((command) => command.source === 'lua').map((command) => command.args)
  }
}

const name = (args: string[]): string => (args[0] as string).toLowerCase()

t.test('one save is one command (the script), whatever the change set', async (t) => {
  for (const change of [
    update({ create: true, replace: true, set: new Map([['a', '1'], ['b', '2'], ['c', '3']]) }),
    update({ set: new Map([['d', '4']]), delete: ['a', 'b'] }),
    update({ replace: true, set: new Map([['e', '5']]) })
  ]) {
    const { sent } = await commandsOf(() => store.save('s', change))
    t.equal(sent.length, 1)
    t.match(name(sent[0] as string[]), /^eval(sha)?$/)
  }
})

t.test('one load is one command', async (t) => {
  for (const id of ['s', 'missing']) {
    const { sent } = await commandsOf(() => store.load(id))
    t.equal(sent.length, 1)
    t.match(name(sent[0] as string[]), /^eval(sha)?$/)
  }
})

t.test('one destroy is one command, also of a session bound to a user (its index entry goes in the same script)', async (t) => {
  let { sent } = await commandsOf(() => store.destroy('s'))
  t.equal(sent.length, 1)
  t.match(name(sent[0] as string[]), /^eval(sha)?$/)
  await store.save('bound', update({ create: true, replace: true, set: new Map([['u', '"ada"']]), handle: 'h-bound', user: 'ada' }))
  let scripted: string[][]
  ;({ sent, scripted } = await commandsOf(() => store.destroy('bound')))
  t.equal(sent.length, 1)
  t.same(scripted.map(name), ['hmget', 'del', 'hdel'])
})

t.test('a save that binds a user, and list, revoke and revokeAll, are one command each on a single node', async (t) => {
  for (const [i, operation] of [
    () => store.save('login', update({ create: true, replace: true, set: new Map([['u', '"bob"']]), handle: 'h-login', user: 'bob' })),
    () => store.save('login', update({ set: new Map([['n', '1']]) })),
    () => store.list('bob'),
    () => store.revoke('bob', 'h-other'),
    () => store.revokeAll('bob', 'h-login'),
    () => store.revokeAll('bob')
  ].entries()) {
    const { sent } = await commandsOf(operation)
    t.equal(sent.length, 1, `operation ${i}`)
    t.match(name(sent[0] as string[]), /^eval(sha)?$/)
  }
  t.same(await store.list('bob'), [])
})

t.test('a touch (empty change set) rewrites only the metadata and the TTL, no data field', async (t) => {
  await store.save('touched', update({ create: true, replace: true, set: new Map([['a', '1'], ['b', '2']]) }))
  const { sent, scripted } = await commandsOf(() => store.save('touched', update({ lastAccessAt: Date.now() + 1000, ttl: 600 })))
  t.equal(sent.length, 1)
  t.same(scripted.map(name), ['exists', 'hmget', 'hset', 'pexpire'], 'no HLEN: nothing was deleted')
  t.same((scripted[2] as string[]).filter((_, i) => i >= 2 && i % 2 === 0), ['createdAt', 'lastAccessAt', 'expiresAt'], 'only meta fields written')
})

t.test('a save of one key writes that key only', async (t) => {
  const { scripted } = await commandsOf(() => store.save('touched', update({ set: new Map([['b', '20']]) })))
  const hset = scripted.filter((args) => name(args) === 'hset')
  t.equal(hset.length, 1, 'one HSET for meta and data')
  t.same((hset[0] as string[]).filter((_, i) => i >= 2 && i % 2 === 0), ['createdAt', 'lastAccessAt', 'expiresAt', 'd:b'])
  t.same(scripted.filter((args) => name(args) === 'hdel' || name(args) === 'hlen'), [])
})

t.test('meta fields that did not change are not rewritten: the handle, user and device the plugin sends on every save', async (t) => {
  const meta = { handle: 'h-meta', user: 'ada', device: { userAgent: 'Firefox' }, maxAge: 60_000 }
  await store.save('meta', update({ create: true, replace: true, set: new Map([['a', '1']]), ...meta }))
  const { scripted } = await commandsOf(() => store.save('meta', update({ set: new Map([['a', '2']]), ...meta })))
  const hset = scripted.filter((args) => name(args) === 'hset')
  t.same(hset.map((args) => args.filter((_, i) => i >= 2 && i % 2 === 0)), [['createdAt', 'lastAccessAt', 'expiresAt', 'd:a']])
  t.match(await store.load('meta'), { user: 'ada', device: { userAgent: 'Firefox' }, maxAge: 60_000 })
})

t.test('a save that deletes a key checks whether any data is left', async (t) => {
  const { scripted } = await commandsOf(() => store.save('touched', update({ delete: ['b'] })))
  t.same(scripted.map(name), ['exists', 'hmget', 'hset', 'hdel', 'hlen', 'hmget', 'pexpire'])
})

t.test('a session with thousands of keys is saved in one call', async (t) => {
  const set = new Map(Array.from({ length: 5000 }, (_, i) => [`k${i}`, String(i)] as [string, string]))
  t.equal(await store.save('many', update({ create: true, replace: true, set })), true)
  t.equal((await store.load('many'))?.data.size, 5000)
})
