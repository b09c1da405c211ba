/**
 * Fuzzing the metainfo parser (lib/metainfo.ts) and what `info` prints of it: random bytes, generated torrents
 * (valid layouts, hostile names, extra fields, unsorted keys) and mutations of them. parseMetainfo either throws a
 * ZentorrentError or returns a Metainfo whose invariants hold; `info` prints it without a raw control character.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { formatInfo, toJson } from '../lib/cli/info.js'
import { parseInfoDictionary, parseMetainfo, PIECE_HASH_LENGTH, type Metainfo } from '../lib/metainfo.js'
import { componentProblem } from '../lib/path-safety.js'
import { bytesCodec, expectTyped, fc, fuzz } from './helpers/fuzz.js'
import { encodeModel, mutate, mutations, torrentModel } from './helpers/fuzz-bencode.js'

const PARSE_CODES = ['NOT_BENCODE', 'TRUNCATED', 'TOO_DEEP', 'DUPLICATE_KEY', 'TORRENT_TOO_LARGE', 'NO_INFO', 'V2_ONLY',
  'BAD_PIECE_LENGTH', 'BAD_PIECES', 'PIECE_COUNT_MISMATCH', 'BAD_LENGTH', 'NO_FILES', 'BAD_NAME', 'BAD_PATH',
  'PATH_ESCAPES_ROOT', 'DUPLICATE_PATH']

// Any terminal control, bidi override or line separator, but the newlines between lines.
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/u

function invariants (meta: Metainfo): void {
  const fail = (why: string): never => { throw new Error(`invariant: ${why}`) }
  if (!createHash('sha1').update(meta.infoBytes).digest().equals(meta.infoHash)) fail('infoHash is the SHA1 of infoBytes')
  if (meta.infoHashHex !== meta.infoHash.toString('hex')) fail('infoHashHex')
  let offset = 0
  for (const file of meta.files) {
    if (file.offset !== offset) fail('files are contiguous')
    if (!Number.isSafeInteger(file.length) || file.length < 0) fail('file lengths are safe integers')
    if (file.path[0] !== meta.name) fail('paths start with the name')
    for (const component of file.path) if (componentProblem(component) !== null) fail(`unsafe component ${JSON.stringify(component)}`)
    offset += file.length
  }
  if (offset !== meta.length || meta.length <= 0) fail('length is the sum of the files')
  if (meta.pieceCount !== Math.ceil(meta.length / meta.pieceLength)) fail('pieceCount')
  if (meta.pieces.length !== meta.pieceCount * PIECE_HASH_LENGTH) fail('pieces')
  if (meta.lastPieceLength < 1 || meta.lastPieceLength > meta.pieceLength) fail('lastPieceLength')
  if (meta.singleFile && meta.files.length !== 1) fail('a single file')
  if (!Object.isFrozen(meta) || !Object.isFrozen(meta.files)) fail('frozen')
  const bare = parseInfoDictionary(meta.infoBytes)
  if (!bare.infoHash.equals(meta.infoHash) || bare.files.length !== meta.files.length) fail('the bare info dictionary parses alike')
  const text = formatInfo(meta)
  const raw = RAW.exec(text)
  if (raw !== null) fail(`info prints a raw U+${raw[0].codePointAt(0)!.toString(16)}`)
  JSON.stringify(toJson(meta))
}

function parseChecked (bytes: Uint8Array): void {
  let meta: Metainfo
  try {
    meta = parseMetainfo(bytes)
  } catch (err) {
    expectTyped(err, PARSE_CODES)
    return
  }
  invariants(meta)
}

t.test('random bytes: a Metainfo whose invariants hold, or a typed error', async (t) => {
  await fuzz(t, 'metainfo-bytes', fc.uint8Array({ maxLength: 300 }), bytesCodec, 1000, parseChecked)
})

t.test('generated torrents (hostile names, extra fields, any key order): invariants hold, or a typed error', async (t) => {
  const torrents = fc.record({ model: torrentModel, sorted: fc.boolean() }).map(({ model, sorted }) => new Uint8Array(encodeModel(model, sorted)))
  let parsed = 0
  await fuzz(t, 'metainfo-generated', torrents, bytesCodec, 1000, (bytes) => {
    parseChecked(bytes)
    try { parseMetainfo(bytes); parsed++ } catch {}
  })
  t.ok(parsed > 0, `${parsed} of them parsed (the generator reaches valid torrents)`)
})

t.test('mutated torrents: invariants hold, or a typed error', async (t) => {
  const mutated = fc.record({ model: torrentModel, ops: mutations }).map(({ model, ops }) => mutate(encodeModel(model, true), ops))
  await fuzz(t, 'metainfo-mutated', mutated, bytesCodec, 1500, parseChecked)
})
