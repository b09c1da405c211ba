/** Temporary directories for tests, each removed when the test that made it ends. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh temp dir named `zentorrent-PREFIX-…`, removed at the test's teardown. */
export async function tempDir (t: { teardown: (fn: () => unknown) => void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `zentorrent-${prefix}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}
