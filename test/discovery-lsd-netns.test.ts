/**
 * LSD multicast for real, but only inside two network namespaces this test creates (a veth pair between them, a
 * multicast route on it): nothing is sent on a real interface. Each namespace runs test/helpers/lsd-node.ts; each
 * must hear the other over IPv4 (239.192.152.143) and IPv6 (ff15::efc0:988f). Namespaces need root or
 * CAP_NET_ADMIN: without them this test fails with a message saying so (the in-memory tests in
 * discovery-lsd.test.ts cover the codec and the timing).
 */
import t from 'tap'
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('./helpers/lsd-node.ts', import.meta.url))
const LOADER = '@tapjs/typescript/import'
const INFO_HASH = 'c0ffee'.padEnd(40, '0')
const tag = `${process.pid % 100000}`
const NS = { a: `zt-lsd-${tag}-a`, b: `zt-lsd-${tag}-b` }
const VETH = { a: `ztla${tag}`, b: `ztlb${tag}` }
const ADDR = { a: '10.231.0.1', b: '10.231.0.2' }
const ADDR6 = { a: 'fd77:231::1', b: 'fd77:231::2' }

async function ip (...args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 })
}

async function cleanup (): Promise<void> {
  // deleting a namespace deletes its end of the veth pair, and with it the other end
  for (const ns of Object.values(NS)) await ip('netns', 'del', ns).catch(() => {})
}

interface Participant { child: ChildProcessWithoutNullStreams, events: Array<Record<string, unknown>>, stderr: () => string }

function participant (side: 'a' | 'b', port: number): Participant {
  const config = { port, infoHash: INFO_HASH, ipv4: ADDR[side], ipv6: `::%${VETH[side]}`, interval: 1_000 }
  const child = spawn('ip', ['netns', 'exec', NS[side], process.execPath, '--import', LOADER, SCRIPT, JSON.stringify(config)], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const events: Array<Record<string, unknown>> = []
  let buf = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString()
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>)
      buf = buf.slice(nl + 1)
    }
  })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  return { child, events, stderr: () => stderr }
}

async function until (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('two namespaces find each other by LSD multicast, over IPv4 and IPv6', async (t) => {
  await cleanup()
  t.teardown(cleanup)
  try {
    await ip('netns', 'add', NS.a)
  } catch (err) {
    t.fail('CANNOT CREATE NETWORK NAMESPACES (needs root or CAP_NET_ADMIN): LSD multicast is untested here beyond the ' +
      `in-memory codec and timing tests. ${(err as { stderr?: string }).stderr ?? String(err)}`)
    return
  }
  await ip('netns', 'add', NS.b)
  // the veth pair is made inside the namespaces: it never exists in the host's own network stack
  await ip('-n', NS.a, 'link', 'add', VETH.a, 'type', 'veth', 'peer', 'name', VETH.b, 'netns', NS.b)
  for (const side of ['a', 'b'] as const) {
    await ip('-n', NS[side], 'addr', 'add', `${ADDR[side]}/24`, 'dev', VETH[side])
    await ip('-n', NS[side], '-6', 'addr', 'add', `${ADDR6[side]}/64`, 'dev', VETH[side], 'nodad')
    await ip('-n', NS[side], 'link', 'set', 'lo', 'up')
    await ip('-n', NS[side], 'link', 'set', VETH[side], 'up')
    // the multicast route the issue asks for: group traffic goes on the veth, inside the namespace only
    await ip('-n', NS[side], 'route', 'add', '239.0.0.0/8', 'dev', VETH[side])
  }

  const a = participant('a', 6881)
  const b = participant('b', 6882)
  const stop = async (p: Participant): Promise<void> => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return
    const exited = new Promise((resolve) => p.child.once('close', resolve))
    p.child.stdin.end()
    const timer = setTimeout(() => { p.child.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(timer)
  }
  t.teardown(async () => { await Promise.all([stop(a), stop(b)]) })
  const heard = (p: Participant, host: string, port: number): boolean =>
    p.events.some((e) => e.event === 'peer' && e.host === host && e.port === port && e.infoHash === INFO_HASH)
  const explain = (): string => `a: ${JSON.stringify(a.events)} ${a.stderr()}\nb: ${JSON.stringify(b.events)} ${b.stderr()}`
  await until(() => [a, b].every((p) => p.events.some((e) => e.event === 'ready')), 30_000, `both participants started\n${explain()}`)
  await until(() => heard(a, ADDR.b, 6882) && heard(b, ADDR.a, 6881), 15_000, `each hears the other over IPv4\n${explain()}`)
  t.pass(`IPv4: ${NS.a} heard ${ADDR.b}:6882 and ${NS.b} heard ${ADDR.a}:6881 via ${'239.192.152.143'}`)
  await until(() => heard(a, ADDR6.b, 6882) && heard(b, ADDR6.a, 6881), 15_000, `each hears the other over IPv6\n${explain()}`)
  t.pass(`IPv6: both heard via ff15::efc0:988f`)
  t.notOk([a, b].some((p) => p.events.some((e) => e.event === 'peer' && (e.port === (p === a ? 6881 : 6882)))), 'nobody heard itself (cookie)')
  await Promise.all([stop(a), stop(b)])
  const stats = [a, b].map((p) => p.events.find((e) => e.event === 'stats'))
  t.ok(stats.every((s) => s !== undefined && (s.ignored as number) >= 1), 'each ignored its own looped-back announces')
})
