/**
 * Differential test of the metainfo parser against libtorrent (issue 17, item 5): generated torrents with
 * repeated keys (inside info, in file entries, in nested unknown fields, at the top level), keys out of order and
 * nested dictionaries. For each one, either we refuse it with a code, or we agree with libtorrent on the info
 * hash, the name and the files. One libtorrent process reads the whole batch.
 */
import t from 'tap'
import { isZentorrentError } from '../lib/errors.js'
import { parseMetainfo, type Metainfo } from '../lib/metainfo.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { libtorrentReadMany } from './helpers/torrent-third-party.js'

const ROUNDS = 400

type Random = () => number

const str = (s: string | Buffer): Buffer => {
  const bytes = typeof s === 'string' ? Buffer.from(s) : s
  return Buffer.concat([Buffer.from(`${bytes.length}:`), bytes])
}
const int = (n: number): Buffer => Buffer.from(`i${n}e`)
const list = (items: readonly Buffer[]): Buffer => Buffer.concat([Buffer.from('l'), ...items, Buffer.from('e')])

/** A dictionary written exactly as given: repeated keys and any order allowed. */
const dict = (entries: ReadonlyArray<readonly [string, Buffer]>): Buffer =>
  Buffer.concat([Buffer.from('d'), ...entries.flatMap(([k, v]) => [str(k), v]), Buffer.from('e')])

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
const chance = (random: Random, p: number): boolean => random() < p

function shuffle<T> (random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

/** Sorted as BEP 3 wants (byte order of the keys), keeping equal keys in their order. */
function sorted (entries: Array<[string, Buffer]>): Array<[string, Buffer]> {
  return entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

interface Generated {
  readonly bytes: Buffer
  /** A repeated key somewhere inside info: we must refuse it (DUPLICATE_KEY). */
  readonly repeatedInInfo: boolean
}

/**
 * Order a dictionary's entries (sorted or shuffled) and, with probability `p`, repeat one key with another
 * value (before or after the original). Returns whether it repeated.
 */
function finish (random: Random, entries: Array<[string, Buffer]>, p: number, other: (key: string) => Buffer,
  repeatable: (key: string) => boolean = () => true): { entries: Array<[string, Buffer]>, repeated: boolean } {
  let repeated = false
  const candidates = entries.filter(([key]) => repeatable(key))
  if (candidates.length > 0 && chance(random, p)) {
    const [key] = pick(random, candidates)
    const at = entries.findIndex(([k]) => k === key)
    entries.splice(chance(random, 0.5) ? at : at + 1, 0, [key, other(key)])
    repeated = true
  }
  return { entries: chance(random, 0.5) ? shuffle(random, entries) : repeated ? entries : sorted(entries), repeated }
}

const NAMES = ['a', 'b', 'c.txt', 'data', 'good.txt', 'evil.exe', 'Dir', 'x y', 'ünï']

function nested (random: Random, depth: number): { value: Buffer, repeated: boolean } {
  if (depth === 0 || chance(random, 0.3)) return { value: chance(random, 0.5) ? int(Math.floor(random() * 100)) : str(pick(random, NAMES)), repeated: false }
  // Keys from a small set: a key drawn twice keeps its last child only, so no repeat happens by accident.
  const children = new Map<string, { value: Buffer, repeated: boolean }>()
  for (let i = 0, n = 1 + Math.floor(random() * 3); i < n; i++) {
    children.set(pick(random, ['k', 'key', 'name', 'length', 'zz']), nested(random, depth - 1))
  }
  const done = finish(random, [...children].map(([key, child]) => [key, child.value]), 0.3, () => int(7))
  const repeated = [...children.values()].some((child) => child.repeated)
  return { value: chance(random, 0.2) ? list([dict(done.entries)]) : dict(done.entries), repeated: repeated || done.repeated }
}

function generate (random: Random): Generated {
  const pieceLength = pick(random, [16384, 32768])
  const single = chance(random, 0.4)
  let repeatedInInfo = false
  const files: Array<{ path: string[], length: number, pad: boolean }> = []
  if (single) {
    files.push({ path: [], length: 1 + Math.floor(random() * 100_000), pad: false })
  } else {
    for (let i = 0, n = 1 + Math.floor(random() * 5); i < n; i++) {
      const depth = 1 + Math.floor(random() * 3)
      const pad = i > 0 && chance(random, 0.1)
      files.push({
        path: pad ? ['.pad', String(i)] : Array.from({ length: depth }, () => pick(random, NAMES)),
        length: Math.floor(random() * 80_000),
        pad
      })
    }
  }
  const total = files.reduce((sum, f) => sum + f.length, 0)
  const pieceCount = Math.ceil(total / pieceLength)
  const pieces = Buffer.alloc(pieceCount * 20)
  for (let i = 0; i < pieces.length; i++) pieces[i] = Math.floor(random() * 256)

  const info: Array<[string, Buffer]> = [
    ['name', str(pick(random, NAMES))],
    ['piece length', int(pieceLength)],
    ['pieces', str(pieces)]
  ]
  if (single) {
    info.push(['length', int(files[0]!.length)])
  } else {
    const entries = files.map((file) => {
      const fields: Array<[string, Buffer]> = [['length', int(file.length)], ['path', list(file.path.map((c) => str(c)))]]
      if (file.pad) fields.push(['attr', str('p')])
      if (chance(random, 0.1)) fields.push(['path.utf-8', list(file.path.map((c) => str(c)))])
      const done = finish(random, fields, 0.15, (key) => key === 'length' ? int(file.length + 1) : list([str(pick(random, NAMES))]))
      repeatedInInfo ||= done.repeated
      return dict(done.entries)
    })
    info.push(['files', list(entries)])
  }
  if (chance(random, 0.3)) {
    const extra = nested(random, 3)
    repeatedInInfo ||= extra.repeated
    info.push(['x-extra', extra.value])
  }
  if (chance(random, 0.1)) info.push(['private', int(1)])
  const infoDone = finish(random, info, 0.35, (key) => key === 'name' ? str('evil.exe') : key === 'pieces' ? str(pieces.subarray(20)) : int(12345))
  repeatedInInfo ||= infoDone.repeated

  const top: Array<[string, Buffer]> = [['info', dict(infoDone.entries)], ['announce', str('http://127.0.0.1:1/announce')]]
  if (chance(random, 0.3)) top.push(['comment', str('first')])
  if (chance(random, 0.3)) top.push(['x-top', nested(random, 2).value])
  // Repeats at the top level (never of info itself) are read like libtorrent: the first counts.
  // (A second info is refused on its own: NOT_BENCODE, tested in metainfo.test.ts.)
  const topDone = finish(random, top, 0.3, () => str('second'), (key) => key !== 'info')
  return { bytes: dict(topDone.entries), repeatedInInfo }
}

function ours (bytes: Buffer): { meta: Metainfo } | { code: string } {
  try {
    return { meta: parseMetainfo(bytes) }
  } catch (err) {
    if (!isZentorrentError(err)) throw err
    return { code: err.code }
  }
}

t.test(`${ROUNDS} generated torrents: we refuse with a code, or agree with libtorrent`, async (t) => {
  const random = seededRandom(20261201)
  const generated = Array.from({ length: ROUNDS }, () => generate(random))
  const theirs = libtorrentReadMany(generated.map((g) => g.bytes))
  const tally = { agreed: 0, refusedRepeated: 0, refusedOther: 0, repeatedLibtorrentTook: 0, bothRefused: 0 }
  const codes = new Map<string, number>()
  for (const [i, { bytes, repeatedInInfo }] of generated.entries()) {
    const lt = theirs[i]!
    const result = ours(bytes)
    const what = `torrent ${i} (${bytes.toString('latin1').replace(/6:pieces\d+:/, '6:pieces…').replace(/[^ -~]/g, '?')})`
    if ('code' in result) {
      codes.set(result.code, (codes.get(result.code) ?? 0) + 1)
      if (result.code === 'DUPLICATE_KEY') {
        tally.refusedRepeated++
        if (lt.ok) tally.repeatedLibtorrentTook++
      } else {
        tally.refusedOther++
        if (!lt.ok) tally.bothRefused++
      }
      if (repeatedInInfo && result.code !== 'DUPLICATE_KEY') t.fail(`${what}: a repeated key inside info refused as ${result.code}`)
      if (!repeatedInInfo && result.code === 'DUPLICATE_KEY') t.fail(`${what}: DUPLICATE_KEY without a repeated key inside info`)
      continue
    }
    if (repeatedInInfo) t.fail(`${what}: a repeated key inside info was accepted`)
    if (!lt.ok) {
      t.fail(`${what}: we accepted what libtorrent refused (${lt.error})`)
      continue
    }
    const meta = result.meta
    const files = meta.files.map((f) => ({ path: f.pad ? '(pad)' : f.path.join('/'), size: f.length, offset: f.offset, pad: f.pad }))
    const theirFiles = lt.files.map((f) => ({ path: f.pad ? '(pad)' : f.path, size: f.size, offset: f.offset, pad: f.pad }))
    if (meta.infoHashHex !== lt.infoHashHex || meta.name !== lt.name || JSON.stringify(files) !== JSON.stringify(theirFiles)) {
      t.fail(`${what}: we read ${JSON.stringify({ hash: meta.infoHashHex, name: meta.name, files })}, ` +
        `libtorrent ${JSON.stringify({ hash: lt.infoHashHex, name: lt.name, files: theirFiles })}`)
      continue
    }
    tally.agreed++
  }
  t.comment(JSON.stringify({ ...tally, codes: Object.fromEntries(codes) }))
  // The generator must reach every outcome, or the test proves little.
  t.ok(tally.agreed > ROUNDS / 5, `${tally.agreed} agreed with libtorrent`)
  t.ok(tally.refusedRepeated > ROUNDS / 5, `${tally.refusedRepeated} refused for a repeated key`)
  t.ok(tally.repeatedLibtorrentTook > ROUNDS / 10, `${tally.repeatedLibtorrentTook} of those libtorrent read (taking the first)`)
  t.equal(tally.agreed + tally.refusedRepeated + tally.refusedOther, ROUNDS)
})
