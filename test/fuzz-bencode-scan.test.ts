/**
 * Fuzzing the bencode scanner and its readers (lib/bencode-scan.ts): random bytes, valid values of every shape,
 * and mutations of them. The scanner either accepts or throws a ZentorrentError; what it accepts, the readers walk
 * to the end without an error, and a valid value reads back as it was written.
 */
import t from 'tap'
import { dictEntries, integerOf, listItems, scanBencode, valueAt, type BencodeValue } from '../lib/bencode-scan.js'
import { bytesCodec, expectTyped, fc, fuzz, type Codec } from './helpers/fuzz.js'
import { bvalue, encodeModel, mutate, mutations, readBack, sortModel, type BModel } from './helpers/fuzz-bencode.js'

const SCAN_CODES = ['NOT_BENCODE', 'TRUNCATED', 'TOO_DEEP', 'DUPLICATE_KEY']

function same (a: BModel, b: BModel): boolean {
  if (a.t !== b.t) return false
  if (a.t === 'int') return a.v === (b as typeof a).v
  if (a.t === 'bytes') return Buffer.from(a.v).equals(Buffer.from((b as typeof a).v))
  if (a.t === 'list') { const bv = (b as typeof a).v; return a.v.length === bv.length && a.v.every((x, i) => same(x, bv[i]!)) }
  const bv = (b as typeof a).v
  return a.v.length === bv.length && a.v.every(([k, x], i) => Buffer.from(k).equals(Buffer.from(bv[i]![0])) && same(x, bv[i]![1]))
}

/** Scan; on success walk everything with the readers (which must not throw on what the scan accepted). */
function scanAndWalk (bytes: Uint8Array): void {
  let end: number
  try {
    end = scanBencode(bytes, { uniqueKeys: 'all' }).end
  } catch (err) {
    expectTyped(err, SCAN_CODES)
    return
  }
  const top = valueAt(bytes, 0)
  if (top.next !== end) throw new Error(`the scan ends at ${end}, the readers at ${top.next}`)
  readBack(bytes, top)
  const walkInts = (v: BencodeValue): void => {
    if (v.type === 'int') integerOf(bytes, v)
    else if (v.type === 'list') for (const item of listItems(bytes, v)) walkInts(item)
    else if (v.type === 'dict') for (const item of dictEntries(bytes, v).values()) walkInts(item)
  }
  walkInts(top)
}

t.test('random bytes: accepted (and walkable) or a typed error', async (t) => {
  await fuzz(t, 'bencode-bytes', fc.uint8Array({ maxLength: 300 }), bytesCodec, 2000, scanAndWalk)
})

/** An encoded input, with the model it encodes when known (a replayed fixture has only its bytes). */
interface Encoded { readonly bytes: Uint8Array, readonly value: BModel | null }
const encodedCodec: Codec<Encoded> = {
  save: (input) => Buffer.from(input.bytes).toString('base64'),
  load: (json) => ({ bytes: new Uint8Array(Buffer.from(json as string, 'base64')), value: null })
}

t.test('valid values of every shape scan to their end and read back as written', async (t) => {
  const valid = fc.record({ value: bvalue, sorted: fc.boolean() })
    .map(({ value, sorted }): Encoded => ({ bytes: encodeModel(value, sorted), value: sorted ? sortModel(value) : value }))
  await fuzz(t, 'bencode-valid', valid, encodedCodec, 1000, ({ bytes, value }) => {
    const result = scanBencode(bytes, { uniqueKeys: 'all' })
    if (result.end !== bytes.length) throw new Error(`scan ended at ${result.end} of ${bytes.length}`)
    const back = readBack(bytes, valueAt(bytes, 0))
    if (value !== null && !same(back, value)) throw new Error('read back differs')
  })
})

t.test('mutated values: accepted (and walkable) or a typed error', async (t) => {
  const mutated = fc.record({ value: bvalue, ops: mutations }).map(({ value, ops }): Encoded => ({ bytes: mutate(encodeModel(value), ops), value: null }))
  await fuzz(t, 'bencode-mutated', mutated, encodedCodec, 2000, ({ bytes }) => { scanAndWalk(bytes) })
})
