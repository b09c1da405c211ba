/**
 * `zentorrent demo` — README's first command — runs a whole swarm on loopback and checks its own copy.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin', 'zentorrent.js')

t.test('the demo seeds, downloads through its tracker and reports an identical copy', async (t) => {
  const child = spawn(process.execPath, [BIN, 'demo', '--size', String(3 * 1024 * 1024 + 77), '--rate', String(8 * 1024 * 1024)],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  t.equal(code, 0, `exit 0 (${output.slice(-400)})`)
  t.match(output, /tracker http:\/\/127\.0\.0\.1:\d+\/announce/, 'an embedded tracker on loopback')
  t.match(output, /pieces \d+\/\d+/, 'progress is shown')
  t.match(output, /copy identical to the original/, 'the downloaded copy is verified byte for byte')
})
