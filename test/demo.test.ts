/**
 * `zentorrent demo` — README's first command — runs a whole swarm on loopback and checks its own copy.
 */
import t from 'tap'
import { runDownload as zentorrent, explain } from './helpers/seeders.js'

t.test('the demo seeds, downloads through its tracker and reports an identical copy', async (t) => {
  const result = await zentorrent(['demo', '--size', String(3 * 1024 * 1024 + 77), '--rate', String(8 * 1024 * 1024)], { timeoutMs: 30_000 })
  const output = result.stderr
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.match(output, /tracker http:\/\/127\.0\.0\.1:\d+\/announce/, 'an embedded tracker on loopback')
  t.match(output, /pieces \d+\/\d+/, 'progress is shown')
  t.match(output, /copy identical to the original/, 'the downloaded copy is verified byte for byte')
})
