/**
 * Arbitraries for the bencode and metainfo fuzz tests: a model of bencode values, its encoder (keys in the given
 * order, so unsorted dictionaries can be made), valid torrents built from it, and byte-level mutations.
 */
import { bytesOf, dictEntries, listItems, valueAt, type BencodeValue } from '../../lib/bencode-scan.js'
import { fc } from './fuzz.js'

export type BModel =
  | { readonly t: 'int', readonly v: bigint }
  | { readonly t: 'bytes', readonly v: Uint8Array }
  | { readonly t: 'list', readonly v: readonly BModel[] }
  | { readonly t: 'dict', readonly v: ReadonlyArray<readonly [Uint8Array, BModel]> }

const keyBytes = fc.oneof(
  fc.constantFrom('info', 'name', 'length', 'path', 'files', 'pieces', 'piece length', 'a', 'b', '').map((s) => new Uint8Array(Buffer.from(s))),
  fc.uint8Array({ maxLength: 6 })
)

/** Values nested a few levels; dictionary keys unique (as bytes) and in any order. */
export const bvalue: fc.Arbitrary<BModel> = fc.letrec<{ value: BModel, int: BModel, bytes: BModel, list: BModel, dict: BModel }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('int'), tie('bytes'), tie('list'), tie('dict')),
  int: fc.bigInt(-(2n ** 70n), 2n ** 70n).map((v): BModel => ({ t: 'int', v })),
  bytes: fc.uint8Array({ maxLength: 24 }).map((v): BModel => ({ t: 'bytes', v })),
  list: fc.array(tie('value'), { maxLength: 4 }).map((v): BModel => ({ t: 'list', v })),
  dict: fc.uniqueArray(fc.tuple(keyBytes, tie('value')), { maxLength: 4, selector: ([k]) => Buffer.from(k).toString('latin1') })
    .map((v): BModel => ({ t: 'dict', v }))
})).value

/** The same value with every dictionary's keys in BEP 3 order (bytes compared). */
export function sortModel (value: BModel): BModel {
  if (value.t === 'list') return { t: 'list', v: value.v.map(sortModel) }
  if (value.t !== 'dict') return value
  return { t: 'dict', v: [...value.v].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map(([k, v]) => [k, sortModel(v)] as const) }
}

/** Read a value back into the model with the readers (dictionaries in their written order). */
export function readBack (buf: Uint8Array, value: BencodeValue): BModel {
  if (value.type === 'int') return { t: 'int', v: BigInt(Buffer.from(buf.subarray(value.start, value.end)).toString('latin1')) }
  if (value.type === 'string') return { t: 'bytes', v: new Uint8Array(bytesOf(buf, value)) }
  if (value.type === 'list') return { t: 'list', v: [...listItems(buf, value)].map((item) => readBack(buf, item)) }
  return { t: 'dict', v: [...dictEntries(buf, value)].map(([key, item]) => [new Uint8Array(Buffer.from(key, 'latin1')), readBack(buf, item)] as const) }
}

/** The model of bencode bytes the scanner accepts (a saved input back into the model it was made from). */
export function decodeModel (buf: Uint8Array): BModel {
  return readBack(buf, valueAt(buf, 0))
}

export function encodeModel (value: BModel, sortKeys = false): Buffer {
  const parts: Buffer[] = []
  const walk = (v: BModel): void => {
    if (v.t === 'int') parts.push(Buffer.from(`i${v.v}e`))
    else if (v.t === 'bytes') parts.push(Buffer.from(`${v.v.length}:`), Buffer.from(v.v))
    else if (v.t === 'list') { parts.push(Buffer.from('l')); v.v.forEach(walk); parts.push(Buffer.from('e')) } else {
      const entries = sortKeys ? [...v.v].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))) : v.v
      parts.push(Buffer.from('d'))
      for (const [k, item] of entries) { parts.push(Buffer.from(`${k.length}:`), Buffer.from(k)); walk(item) }
      parts.push(Buffer.from('e'))
    }
  }
  walk(value)
  return Buffer.concat(parts)
}

export type Mutation = { readonly op: 'flip' | 'insert' | 'delete' | 'truncate' | 'duplicate' | 'token', readonly at: number, readonly byte: number, readonly length: number }

/**
 * What the `token` mutation inserts (`byte` picks one): bencode's lexemes with hostile values — negative and huge
 * lengths and integers, empty containers, keys a JavaScript decoder treats specially.
 */
export const TOKENS = ['-1:', '-2:', '-3:', '-4:', '-10:', '0:', '4294967296:', 'i-0e', 'i-1e', 'i9007199254740993e', 'i1.5e',
  'le', 'de', 'l', 'd', 'e', '9:__proto__', '8:toString', '7:valueOf'].map((s) => Buffer.from(s, 'latin1'))

export const mutations: fc.Arbitrary<readonly Mutation[]> = fc.array(fc.record({
  op: fc.constantFrom('flip', 'insert', 'delete', 'truncate', 'duplicate', 'token'),
  at: fc.nat(),
  byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...Buffer.from('ilde:0123456789-'))),
  length: fc.integer({ min: 1, max: 16 })
}), { minLength: 1, maxLength: 4 })

export function mutate (input: Uint8Array, ops: readonly Mutation[]): Uint8Array {
  let bytes = Buffer.from(input)
  for (const { op, at: rawAt, byte, length } of ops) {
    const at = bytes.length === 0 ? 0 : rawAt % bytes.length
    if (op === 'flip' && bytes.length > 0) bytes[at] = byte
    else if (op === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)])
    else if (op === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + length)])
    else if (op === 'truncate') bytes = bytes.subarray(0, at)
    else if (op === 'duplicate') bytes = Buffer.concat([bytes.subarray(0, at + length), bytes.subarray(at)])
    else if (op === 'token') bytes = Buffer.concat([bytes.subarray(0, at), TOKENS[byte % TOKENS.length]!, bytes.subarray(at)])
  }
  return new Uint8Array(bytes)
}

const component = fc.oneof(
  fc.constantFrom('a', 'b.txt', 'dir', 'ünï', '日本', 'x y', '..', '.', '', 'a/b', 'C:', 'evil\u202etxt', 'tab\tname'),
  fc.string({ minLength: 1, maxLength: 8 })
)

/** A torrent's top-level model: a valid layout most of the time, with extra fields, trackers and odd values. */
export const torrentModel: fc.Arbitrary<BModel> = fc.record({
  name: component,
  pieceLength: fc.constantFrom(1, 16, 1000, 16384, 32768),
  single: fc.boolean(),
  files: fc.array(fc.record({ path: fc.array(component, { minLength: 1, maxLength: 3 }), length: fc.integer({ min: 0, max: 70_000 }), pad: fc.boolean() }), { minLength: 1, maxLength: 5 }),
  extraInfo: fc.array(fc.tuple(keyBytes, bvalue), { maxLength: 2 }),
  extraTop: fc.array(fc.tuple(keyBytes, bvalue), { maxLength: 2 }),
  announce: fc.option(fc.string({ maxLength: 30 })),
  private: fc.option(fc.integer({ min: -1, max: 2 })),
  shuffle: fc.boolean()
}).map((m): BModel => {
  const text = (s: string): BModel => ({ t: 'bytes', v: new Uint8Array(Buffer.from(s)) })
  const int = (n: number): BModel => ({ t: 'int', v: BigInt(n) })
  const files = m.single ? [m.files[0]!] : m.files
  const total = files.reduce((sum, f) => sum + f.length, 0)
  const pieceCount = Math.ceil(total / m.pieceLength)
  const info: Array<[Uint8Array, BModel]> = [
    [Buffer.from('name'), text(m.name)],
    [Buffer.from('piece length'), int(m.pieceLength)],
    [Buffer.from('pieces'), { t: 'bytes', v: new Uint8Array(Math.min(pieceCount, 5000) * 20) }]
  ]
  if (m.single) info.push([Buffer.from('length'), int(files[0]!.length)])
  else {
    info.push([Buffer.from('files'), {
      t: 'list',
      v: files.map((f): BModel => ({
        t: 'dict',
        v: [[Buffer.from('length'), int(f.length)], [Buffer.from('path'), { t: 'list', v: f.path.map(text) }],
          ...(f.pad ? [[Buffer.from('attr'), text('p')] as [Uint8Array, BModel]] : [])]
      }))
    }])
  }
  if (m.private !== null) info.push([Buffer.from('private'), int(m.private)])
  const seen = new Set(info.map(([k]) => Buffer.from(k).toString('latin1')))
  for (const [k, v] of m.extraInfo) if (!seen.has(Buffer.from(k).toString('latin1'))) { seen.add(Buffer.from(k).toString('latin1')); info.push([k, v]) }
  if (!m.shuffle) info.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  const top: Array<[Uint8Array, BModel]> = [[Buffer.from('info'), { t: 'dict', v: info }]]
  if (m.announce !== null) top.push([Buffer.from('announce'), text(m.announce)])
  const topSeen = new Set(top.map(([k]) => Buffer.from(k).toString('latin1')))
  for (const [k, v] of m.extraTop) if (!topSeen.has(Buffer.from(k).toString('latin1'))) { topSeen.add(Buffer.from(k).toString('latin1')); top.push([k, v]) }
  return { t: 'dict', v: top }
})
