import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import pump from 'pump'
import { createVerifier, hashPiece, pieceLengthOf, Verifier, VERIFIER_DEFAULTS, type Block, type PieceGeometry, type VerifiedPiece } from '../lib/verify.js'
import { seededBytes, seededRandom } from './helpers/create-fixtures.js'
import { PieceWorker } from '../lib/piece-worker.js'
import { shuffled } from './helpers/make-torrent.js'

const BLOCK = 16384
const PIECE_LENGTH = 3 * BLOCK + 1000 // the last block of every piece is short
const LENGTH = 5 * PIECE_LENGTH + BLOCK + 7 // odd last piece of two blocks, the second 7 bytes

function torrent (length: number, pieceLength: number, seed: number): { data: Buffer, geometry: PieceGeometry } {
  const data = seededBytes(length, seed)
  const pieceCount = Math.ceil(length / pieceLength)
  const hashes: Buffer[] = []
  for (let i = 0; i < pieceCount; i++) hashes.push(createHash('sha1').update(data.subarray(i * pieceLength, (i + 1) * pieceLength)).digest())
  return { data, geometry: { pieceCount, pieceLength, lastPieceLength: length - (pieceCount - 1) * pieceLength, pieces: Buffer.concat(hashes) } }
}

/** Every block of the torrent, as views into `data` (what the wire hands over). */
function blocksOf (data: Buffer, geometry: PieceGeometry, peers: readonly string[], random: () => number): Block[] {
  const out: Block[] = []
  for (let index = 0; index < geometry.pieceCount; index++) {
    const start = index * geometry.pieceLength
    const size = pieceLengthOf(geometry, index)
    for (let offset = 0; offset < size; offset += BLOCK) {
      const peer = peers[Math.floor(random() * peers.length)]!
      out.push({ index, offset, data: data.subarray(start + offset, start + Math.min(offset + BLOCK, size)), peer })
    }
  }
  return out
}

interface Run {
  pieces: VerifiedPiece[]
  verified: number[]
  invalid: Array<{ index: number, peers: string[] }>
}

/** Pipe blocks through a fresh verifier into a collector; resolve when the pipeline ends. */
async function run (geometry: PieceGeometry, blocks: Iterable<Block> | AsyncIterable<Block>, verifier: Verifier = createVerifier(geometry)): Promise<Run> {
  const result: Run = { pieces: [], verified: [], invalid: [] }
  verifier.on('piece-verified', (index: number) => result.verified.push(index))
  verifier.on('piece-invalid', (info: { index: number, peers: string[] }) => result.invalid.push(info))
  const collect = new Writable({
    objectMode: true,
    write (piece: VerifiedPiece, _enc, cb) { result.pieces.push(piece); cb() }
  })
  await new Promise<void>((resolve, reject) => {
    pump(Readable.from(blocks), verifier, collect, (err) => { if (err != null) reject(err); else resolve() })
  })
  return result
}

function checkPieces (t: Test, pieces: readonly VerifiedPiece[], data: Buffer, geometry: PieceGeometry): void {
  for (const piece of pieces) {
    const start = piece.index * geometry.pieceLength
    t.equal(piece.length, pieceLengthOf(geometry, piece.index), `piece ${piece.index} length`)
    t.ok(Buffer.concat(piece.blocks).equals(data.subarray(start, start + piece.length)), `piece ${piece.index} bytes`)
  }
}

const sortedIndexes = (pieces: readonly VerifiedPiece[]): number[] => pieces.map((p) => p.index).sort((a, b) => a - b)
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

t.test('defaults', async (t) => {
  t.same(VERIFIER_DEFAULTS, { readableHighWaterMark: 2, offloadMinLength: 128 * 1024 })
  t.equal(createVerifier(torrent(10, 4, 1).geometry).readableHighWaterMark, 2)
})

t.test('blocks in random order from several peers become the right pieces', async (t) => {
  const { data, geometry } = torrent(LENGTH, PIECE_LENGTH, 1)
  const random = seededRandom(3)
  for (let round = 0; round < 5; round++) {
    const blocks = shuffled(blocksOf(data, geometry, ['a', 'b', 'c'], random), random)
    const verifier = createVerifier(geometry)
    const result = await run(geometry, blocks, verifier)
    t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), `round ${round}: every piece once`)
    t.same([...result.verified].sort((a, b) => a - b), range(geometry.pieceCount))
    t.same(result.invalid, [])
    checkPieces(t, result.pieces, data, geometry)
    t.equal(verifier.bufferedBytes, 0, 'nothing held once every piece is out')
  }
  // each block is copied into its piece's buffer once, so the wire's read chunks are free to go at once:
  // overwriting every block after the fact leaves the verified pieces intact
  const blocks = blocksOf(data, geometry, ['a'], random).map((b) => ({ ...b, data: Buffer.from(b.data) }))
  const result = await run(geometry, blocks)
  for (const b of blocks) b.data.fill(0xee)
  t.equal(result.pieces[0]!.blocks.length, 1, 'a verified piece is one buffer')
  checkPieces(t, result.pieces, data, geometry)
})

t.test('a corrupted block: piece-invalid with the contributing peers, nothing pushed, then a good copy passes', async (t) => {
  const { data, geometry } = torrent(LENGTH, PIECE_LENGTH, 2)
  const random = seededRandom(4)
  const blocks = blocksOf(data, geometry, ['a', 'b', 'c', 'd'], random)
  const bad = blocks.findIndex((b) => b.index === 2 && b.offset === BLOCK)
  const corrupt = Buffer.from(blocks[bad]!.data)
  corrupt[100] ^= 0xff
  const badBlocks = blocks.map((b, i) => i === bad ? { ...b, data: corrupt } : b)
  const contributors = [...new Set(blocks.filter((b) => b.index === 2).map((b) => b.peer!))].sort()
  // then piece 2 again, all of it from peer 'e'
  const retry = blocks.filter((b) => b.index === 2).map((b) => ({ ...b, peer: 'e' }))
  const result = await run(geometry, [...shuffled(badBlocks, random), ...retry])
  t.equal(result.invalid.length, 1)
  t.equal(result.invalid[0]!.index, 2)
  t.same([...result.invalid[0]!.peers].sort(), contributors, 'every peer that sent a block of the piece')
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), 'the retry passes; the bad attempt was not pushed')
  t.equal(result.pieces.filter((p) => p.index === 2).length, 1)
  checkPieces(t, result.pieces, data, geometry)
})

t.test('a short or long block is dropped as a stray, not a crash; the right block then completes the piece', async (t) => {
  const { data, geometry } = torrent(LENGTH, PIECE_LENGTH, 5)
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1)).filter((b) => b.index === 0)
  const first = blocks.find((b) => b.offset === 0)!
  const short = { ...first, data: first.data.subarray(0, 100), peer: 's' }
  const long = { ...first, data: Buffer.concat([first.data, Buffer.alloc(1)]), peer: 'l' }
  const withoutFirst = blocks.filter((b) => b !== first)
  const dropped = await run(geometry, [short, long, ...withoutFirst])
  t.same(dropped.pieces, [], 'the piece is not complete without a whole first block')
  t.same(dropped.invalid, [])
  const result = await run(geometry, [short, long, ...blocks])
  t.same(sortedIndexes(result.pieces), [0])
  t.same(result.invalid, [], 'the strays were never part of the piece')
  checkPieces(t, result.pieces, data, geometry)
})

t.test('strays are dropped: unknown piece, unaligned offset, past the end of the piece', async (t) => {
  const { data, geometry } = torrent(LENGTH, PIECE_LENGTH, 6)
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1))
  const strays: Block[] = [
    { index: geometry.pieceCount, offset: 0, data: Buffer.alloc(BLOCK), peer: 'x' },
    { index: -1, offset: 0, data: Buffer.alloc(BLOCK), peer: 'x' },
    { index: 0, offset: 1, data: Buffer.alloc(BLOCK), peer: 'x' },
    { index: 0, offset: 3 * BLOCK, data: Buffer.alloc(BLOCK), peer: 'x' }, // the last block is only 1000 bytes
    { index: geometry.pieceCount - 1, offset: 2 * BLOCK, data: Buffer.alloc(1), peer: 'x' }
  ]
  const result = await run(geometry, [...strays, ...blocks])
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount))
  t.same(result.invalid, [])
  checkPieces(t, result.pieces, data, geometry)
})

t.test('duplicates are ignored: the first copy stays, a late copy never re-emits the piece', async (t) => {
  const { data, geometry } = torrent(LENGTH, PIECE_LENGTH, 7)
  const random = seededRandom(8)
  const blocks = blocksOf(data, geometry, ['a', 'b'], random)
  // every block twice, the second copy garbage from another peer: only the first copy counts
  const garbage = blocks.map((b) => ({ ...b, data: Buffer.alloc(b.data.length, 0xaa), peer: 'z' }))
  const mixed: Block[] = []
  blocks.forEach((b, i) => mixed.push(b, garbage[i]!))
  const verifier = createVerifier(geometry)
  const result = await run(geometry, mixed, verifier)
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), 'every piece exactly once')
  t.same(result.invalid, [], 'late garbage copies of finished pieces are not assembled into a new attempt')
  checkPieces(t, result.pieces, data, geometry)
  t.equal(verifier.bufferedBytes, 0, 'and nothing is left held')

  // a one-block piece: its endgame duplicate must not push the piece a second time
  const small = torrent(BLOCK, BLOCK, 9)
  const block: Block = { index: 0, offset: 0, data: small.data, peer: 'a' }
  const twice = await run(small.geometry, [block, { ...block, peer: 'b' }])
  t.equal(twice.pieces.length, 1)
  t.same(twice.verified, [0])
})

t.test('an invalid piece can be downloaded again: only verified pieces are closed', async (t) => {
  const { data, geometry } = torrent(2 * BLOCK, BLOCK, 10)
  const good: Block = { index: 1, offset: 0, data: data.subarray(BLOCK), peer: 'a' }
  const bad: Block = { ...good, data: Buffer.alloc(BLOCK), peer: 'b' }
  const result = await run(geometry, [bad, bad, good, good])
  t.same(result.invalid, [{ index: 1, peers: ['b'] }, { index: 1, peers: ['b'] }])
  t.same(result.verified, [1])
  t.equal(result.pieces.length, 1)
})

t.test('discard forgets a piece\'s blocks', async (t) => {
  const { data, geometry } = torrent(LENGTH, PIECE_LENGTH, 11)
  const verifier = createVerifier(geometry)
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1)).filter((b) => b.index === 1)
  const write = async (b: Block): Promise<void> => await new Promise((resolve, reject) => verifier.write(b, (err) => err == null ? resolve() : reject(err)))
  await write(blocks[0]!)
  await write(blocks[1]!)
  t.equal(verifier.bufferedBytes, 2 * BLOCK)
  verifier.discard(1)
  verifier.discard(3) // nothing held: no-op
  t.equal(verifier.bufferedBytes, 0)
  for (const b of blocks) await write(b)
  const piece = verifier.read() as VerifiedPiece
  t.equal(piece.index, 1, 'the piece assembles again from scratch')
  t.ok(Buffer.concat(piece.blocks).equals(data.subarray(PIECE_LENGTH, 2 * PIECE_LENGTH)))
})

t.test('backpressure: with the readable side full the write callback is held', async (t) => {
  const { data, geometry } = torrent(4 * BLOCK, BLOCK, 12)
  const verifier = createVerifier(geometry, { readableHighWaterMark: 1 })
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1))
  const done: number[] = []
  blocks.forEach((b) => verifier.write(b, () => done.push(b.index)))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(done, [], 'piece 0 fills the readable side: the callback of the block that completed it is held')
  t.equal(verifier.readableLength, 1)
  t.equal(verifier.writableLength > 0, true, 'later blocks wait in the writable buffer')
  const read: number[] = []
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    const piece = verifier.read() as VerifiedPiece | null
    if (piece !== null) read.push(piece.index)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.same(read, [0, 1, 2, 3], 'each read lets exactly the next piece through')
  t.same(done, [0, 1, 2, 3])
})

t.test('hashPiece hashes consecutive buffers as one', async (t) => {
  const data = seededBytes(50000, 13)
  const random = seededRandom(14)
  const parts: Buffer[] = []
  for (let at = 0; at < data.length;) {
    const n = Math.min(data.length - at, Math.floor(random() * 5000))
    parts.push(data.subarray(at, at + n))
    at += n
  }
  t.ok(hashPiece(parts).equals(createHash('sha1').update(data).digest()))
})

t.test('hashing on the piece worker: same pieces, same verdicts, and the stage ends only after the last hash', async (t) => {
  const { data, geometry } = torrent(LENGTH, PIECE_LENGTH, 21)
  const worker = new PieceWorker()
  t.teardown(async () => { await worker.close() })
  const random = seededRandom(22)
  const blocks = blocksOf(data, geometry, ['a', 'b', 'c'], random)
  const bad = blocks.findIndex((b) => b.index === 1 && b.offset === 0)
  const corrupt = Buffer.from(blocks[bad]!.data)
  corrupt[7] ^= 0x01
  const retry = blocks.filter((b) => b.index === 1).map((b) => ({ ...b, peer: 'e' }))
  const verifier = createVerifier(geometry, { offloadMinLength: 0, pieceWorker: worker })
  const invalid = new Promise((resolve) => verifier.once('piece-invalid', resolve))
  // a late duplicate of every block too (ignored while its piece is at the worker, or once verified); the retry of
  // piece 1 comes after its verdict, as the scheduler sends it
  async function * input (): AsyncGenerator<Block> {
    yield * shuffled(blocks.map((b, i) => i === bad ? { ...b, data: corrupt } : b), random)
    yield * blocks
    await invalid
    yield * retry
  }
  const result = await run(geometry, input(), verifier)
  t.ok(worker.answered >= geometry.pieceCount, `the worker hashed (${worker.answered} jobs)`)
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), 'every piece once, none lost at the end')
  t.same(result.invalid.map((i) => i.index), [1], 'the corrupted attempt reported')
  checkPieces(t, result.pieces, data, geometry)
  t.equal(verifier.bufferedBytes, 0)
})

t.test('pieces below offloadMinLength, or without a worker, are hashed inline (verified before the write returns)', async (t) => {
  const { data, geometry } = torrent(2 * BLOCK, 2 * BLOCK, 23)
  for (const opts of [{}, { offloadMinLength: 0, pieceWorker: null }]) {
    const verifier = createVerifier(geometry, opts)
    const verified: number[] = []
    verifier.on('piece-verified', (i: number) => verified.push(i))
    verifier.resume()
    verifier.write({ index: 0, offset: 0, data: data.subarray(0, BLOCK) })
    verifier.write({ index: 0, offset: BLOCK, data: data.subarray(BLOCK) })
    await new Promise((resolve) => setImmediate(resolve))
    t.same(verified, [0], JSON.stringify(opts))
    verifier.destroy()
  }
})
