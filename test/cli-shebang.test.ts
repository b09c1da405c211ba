import t from 'tap'
import { readFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { CLI_RUNTIME } from '../bench/util.js'

const root = join(import.meta.dirname, '..')

t.test("the CLI's shebang sets the runtime settings the benchmarks mirror, and the built bin runs with them", async (t) => {
  const source = (await readFile(join(root, 'bin', 'zentorrent.ts'), 'utf8')).split('\n')[0]!
  const env = Object.entries(CLI_RUNTIME.env).map(([k, v]) => `${k}=${v}`).join(' ')
  t.equal(source, `#!/usr/bin/env -S ${env} node ${CLI_RUNTIME.nodeFlags.join(' ')}`, 'the settings bench/util.ts mirrors')
  const built = join(root, 'dist', 'bin', 'zentorrent.js')
  t.equal((await readFile(built, 'utf8')).split('\n')[0], source, 'the build keeps the line')
  // run through the shebang itself (env -S must split it), as a user's shell does
  const run = spawnSync(built, ['--version'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /^zentorrent \d+\.\d+\.\d+/)
})
