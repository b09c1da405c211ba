/**
 * A multi-file torrent made by libtorrent (a third-party tool) over a seeded file tree, seeded by a libtorrent
 * process on loopback: what the file-stream and HTTP tests read from. Everything is removed at the test's teardown.
 */
import type { Test } from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseMetainfo, type Metainfo } from '../../lib/metainfo.js'
import { writeTree } from './create-fixtures.js'
import { makeTorrent, startLibtorrentSeeder } from './seeders.js'

export const TREE = {
  'tree/a.bin': 300_001,
  'tree/b/c.bin': 17,
  'tree/b/d.bin': 190_000,
  'tree/e.bin': 250_013,
  'tree/f/g/h.bin': 65_536
}

export async function libtorrentTree (t: Test, tree: Record<string, number> = TREE): Promise<{ seeded: string, meta: Metainfo, port: number, torrentPath: string }> {
  const seeded = await mkdtemp(join(tmpdir(), 'zt-torrent-lt-'))
  t.teardown(async () => await rm(seeded, { recursive: true, force: true }))
  await writeTree(seeded, tree, 21)
  const torrentPath = join(seeded, 'tree.torrent')
  await makeTorrent(join(seeded, 'tree'), torrentPath, '', 32 * 1024)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: seeded })
  t.teardown(seeder.stop)
  return { seeded, meta: parseMetainfo(await readFile(torrentPath)), port: seeder.port, torrentPath }
}
