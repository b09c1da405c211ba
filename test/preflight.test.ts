/**
 * lib/listener.ts and lib/cli/preflight.ts: a port asked for must be free; an output directory must be writable or creatable.
 */
import t from 'tap'
import { createServer } from 'node:net'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { checkOutputDirectory } from '../lib/cli/preflight.js'
import { Listener } from '../lib/listener.js'
import { isZentorrentError } from '../lib/errors.js'
import { tempDir } from './helpers/temp.js'

t.test('a port asked for is the one listened on: busy is PORT_IN_USE, a foreign address is refused, no fallback', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const busy = (server.address() as { port: number }).port
  const listener = new Listener({ peerId: Buffer.alloc(20, 1) })
  t.teardown(async () => { await listener.close() })
  const err = await listener.listen('127.0.0.1', [busy], { strict: true }).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(err, 'PORT_IN_USE'), 'busy')
  t.match((err as Error).message, `port ${busy} on 127.0.0.1 is in use`)
  const foreign = await listener.listen('192.0.2.1', [busy + 1], { strict: true }).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(foreign, 'BAD_ARGUMENT'))
  t.match((foreign as Error).message, /--bind 192\.0\.2\.1: not an address of this machine/)
  const fallback = new Listener({ peerId: Buffer.alloc(20, 2) })
  t.teardown(async () => { await fallback.close() })
  t.not(await fallback.listen('127.0.0.1', [busy]), busy, 'without strict: the next free port')
})

t.test('checkOutputDirectory: existing, creatable, a file, under a file', async (t) => {
  const dir = await tempDir(t, 'preflight')
  await checkOutputDirectory(dir)
  await checkOutputDirectory(join(dir, 'new', 'deeper'))
  await mkdir(join(dir, 'd'))
  await writeFile(join(dir, 'file'), 'x')
  const file = await checkOutputDirectory(join(dir, 'file')).then(() => null, (e: unknown) => e)
  t.match((file as Error).message, /-o .*file: that is a file, not a directory/)
  const under = await checkOutputDirectory(join(dir, 'file', 'a', 'b'), '--dir').then(() => null, (e: unknown) => e)
  t.match((under as Error).message, /^--dir .*file\/a\/b: .*\/file is a file, not a directory$/)
})
