/**
 * lib/cli/preflight.ts: a port asked for must be free; an output directory must be writable or creatable.
 */
import t from 'tap'
import { createServer } from 'node:net'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { checkListenable, checkOutputDirectory } from '../lib/cli/preflight.js'
import { isZentorrentError } from '../lib/errors.js'
import { tempDir } from './helpers/temp.js'

t.test('checkListenable: a free port passes and is released; a busy one is PORT_IN_USE; a foreign address is refused', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const busy = (server.address() as { port: number }).port
  const err = await checkListenable('127.0.0.1', busy).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(err, 'PORT_IN_USE'), 'busy')
  t.match((err as Error).message, `port ${busy} on 127.0.0.1 is in use`)
  const free = createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const port = (free.address() as { port: number }).port
  await new Promise<void>((resolve) => free.close(() => resolve()))
  await checkListenable('127.0.0.1', port)
  await checkListenable('127.0.0.1', port) // the check released it
  const foreign = await checkListenable('192.0.2.1', port).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(foreign, 'BAD_ARGUMENT'))
  t.match((foreign as Error).message, /--bind 192\.0\.2\.1: not an address of this machine/)
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
