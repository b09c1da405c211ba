import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import bencode from 'bencode'
import { parseInfoDictionary, parseMetainfo } from '../lib/metainfo.js'
import { encodeTorrentFile } from '../lib/torrent-file.js'
import { VERSION } from '../lib/version.js'

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

/** What libtorrent's own torrent_info makes of a .torrent's bytes. */
function libtorrentLoads (bytes: Buffer): { hash: string, name: string, trackers: Array<[string, number]>, seeds: string[], files: number } {
  const script = `
import json, sys, tempfile
import libtorrent as lt
# From a file: lt.torrent_info(lt.bdecode(...)) would re-encode the info dictionary (and change a non-canonical
# torrent's hash); libtorrent hashes a file's info bytes as they stand.
with tempfile.NamedTemporaryFile(suffix='.torrent') as f:
    f.write(bytes.fromhex(sys.stdin.read()))
    f.flush()
    ti = lt.torrent_info(f.name)
print(json.dumps({'hash': str(ti.info_hashes().v1), 'name': ti.name(), 'trackers': [[a.url, a.tier] for a in ti.trackers()],
  'seeds': [w['url'] for w in ti.web_seeds()], 'files': ti.num_files()}))
`
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: bytes.toString('hex'), encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`libtorrent could not load the torrent (${String(r.status)}): ${r.stderr}${r.error?.message ?? ''}`)
  return JSON.parse(r.stdout) as ReturnType<typeof libtorrentLoads>
}

t.test('fetched metadata saved as a .torrent: same info hash, libtorrent loads it with our trackers', async (t) => {
  for (const name of ['non-canonical.torrent', 'multi.torrent', 'pad.torrent']) {
    const original = parseMetainfo(await readFile(fixture(name)))
    // What a magnet fetch yields: the bare info dictionary, plus the link's trackers and web seeds.
    const fetched = parseInfoDictionary(original.infoBytes)
    const bytes = encodeTorrentFile(fetched, {
      trackers: [['http://127.0.0.1:1/announce'], ['udp://127.0.0.1:2', 'udp://127.0.0.1:3']],
      webSeeds: ['http://127.0.0.1:4/seed/']
    })
    const saved = parseMetainfo(bytes)
    t.equal(saved.infoHashHex, original.infoHashHex, `${name}: the same info hash`)
    t.ok(saved.infoBytes.equals(original.infoBytes), `${name}: the info bytes untouched`)
    const lt = libtorrentLoads(bytes)
    t.equal(lt.hash, original.infoHashHex, `${name}: libtorrent computes the same info hash`)
    t.equal(lt.name, original.name)
    t.equal(lt.files, original.files.length)
    // libtorrent shuffles each tier (BEP 12): compare as sets of (url, tier)
    t.same(lt.trackers.map((x) => x.join(' ')).sort(), ['http://127.0.0.1:1/announce 0', 'udp://127.0.0.1:2 1', 'udp://127.0.0.1:3 1'], 'tiers kept')
    t.same(lt.seeds, ['http://127.0.0.1:4/seed/'])
  }
})

t.test('the top-level dictionary: sorted keys, only what we know', async (t) => {
  const original = parseMetainfo(await readFile(fixture('sample.torrent')))
  const bytes = encodeTorrentFile(original, { creationDate: new Date('2026-01-02T03:04:05Z') })
  const top = bencode.decode(bytes) as Record<string, unknown>
  t.same(Object.keys(top), ['announce', 'announce-list', 'comment', 'created by', 'creation date', 'info'], 'BEP 3 order')
  t.equal(Buffer.from(top.comment as Uint8Array).toString(), original.comment, 'the comment kept')
  t.equal(Buffer.from(top['created by'] as Uint8Array).toString(), `zentorrent/${VERSION}`)
  t.equal(top['creation date'], 1767323045)
  const again = parseMetainfo(bytes)
  t.same(again.announce, original.announce, 'announce-list round-trips')
  t.equal(again.infoHashHex, original.infoHashHex)

  const bare = encodeTorrentFile(parseInfoDictionary(original.infoBytes), { createdBy: '' })
  t.same(Object.keys(bencode.decode(bare) as object), ['info'], 'no trackers, no web seeds, no creator: just the info')
  t.equal(libtorrentLoads(bare).hash, original.infoHashHex, 'a trackerless .torrent loads too')
  const one = bencode.decode(encodeTorrentFile(original, { trackers: [['http://127.0.0.1:9/a']] })) as Record<string, unknown>
  t.notOk('announce-list' in one, 'one tracker: announce only (as create.ts, mktorrent and libtorrent write it)')
})
