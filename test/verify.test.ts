import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { createVerifier, hashPiece, Verifier, VERIFIER_DEFAULTS, type Block, type VerifiedPiece } from '../lib/verify.js'
import { createLedger, PieceState, type PieceLedger } from '../lib/ledger.js'
import { createGeometry, type PieceGeometry } from '../lib/geometry.js'
import { seededBytes, seededRandom } from './helpers/create-fixtures.js'
import { PieceWorker } from '../lib/piece-worker.js'
import { shuffled } from './helpers/make-torrent.js'

const BLOCK = 16384
const PIECE_LENGTH = 3 * BLOCK + 1000 // the last block of every piece is short
const LENGTH = 5 * PIECE_LENGTH + BLOCK + 7 // odd last piece of two blocks, the second 7 bytes

interface Made { data: Buffer, geometry: PieceGeometry, hashes: { pieces: Buffer } }

function torrent (length: number, pieceLength: number, seed: number): Made {
  const data = seededBytes(length, seed)
  const pieceCount = Math.ceil(length / pieceLength)
  const hashes: Buffer[] = []
  for (let i = 0; i < pieceCount; i++) hashes.push(createHash('sha1').update(data.subarray(i * pieceLength, (i + 1) * pieceLength)).digest())
  const geometry = createGeometry({ pieceCount, pieceLength, lastPieceLength: length - (pieceCount - 1) * pieceLength })
  return { data, geometry, hashes: { pieces: Buffer.concat(hashes) } }
}

/**
 * What the scheduler does before it pushes a block: open its piece in the ledger, mark the block requested and
 * received, stamp the generation. Strays (not a block of an open piece) pass unstamped.
 */
function asScheduler (ledger: PieceLedger, block: Block): Block {
  const { index, offset } = block
  if (!Number.isInteger(index) || index < 0 || index >= ledger.pieceCount || offset % BLOCK !== 0) return block
  if (ledger.state(index) === PieceState.Missing) ledger.open(index)
  if (ledger.state(index) !== PieceState.Assembling) return block
  const b = offset / BLOCK
  if (b < ledger.geometry.blocksIn(index)) {
    if (ledger.blockState(index, b) === 0) ledger.request(index, b, block.peer ?? '?')
    ledger.receive(index, b, block.peer ?? '?')
  }
  return { ...block, generation: ledger.generation(index) }
}

/** Every block of the torrent, as views into `data` (what the wire hands over). */
function blocksOf (data: Buffer, geometry: PieceGeometry, peers: readonly string[], random: () => number): Block[] {
  const out: Block[] = []
  for (let index = 0; index < geometry.pieceCount; index++) {
    const start = index * geometry.pieceLength
    const size = geometry.pieceSize(index)
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
  ledger: PieceLedger
}

/** A verifier over a fresh ledger. */
function verifierFor (made: Made, opts: Partial<Parameters<typeof createVerifier>[1]> = {}): { verifier: Verifier, ledger: PieceLedger } {
  const ledger = opts.ledger ?? createLedger(made.geometry)
  return { verifier: createVerifier(made.hashes, { ...opts, ledger }), ledger }
}

/**
 * Write blocks one at a time into a verifier (each after the previous write's callback, as the scheduler does it
 * through the stream), its output collected; resolves when it has ended.
 */
async function run (made: Made, blocks: Iterable<Block> | AsyncIterable<Block>, given?: { verifier: Verifier, ledger: PieceLedger }): Promise<Run> {
  const { verifier, ledger } = given ?? verifierFor(made)
  const result: Run = { pieces: [], verified: [], invalid: [], ledger }
  verifier.on('piece-verified', (index: number) => result.verified.push(index))
  verifier.on('piece-invalid', (info: { index: number, peers: string[] }) => result.invalid.push(info))
  const collect = new Writable({
    objectMode: true,
    write (piece: VerifiedPiece, _enc, cb) { result.pieces.push(piece); cb() }
  })
  verifier.pipe(collect)
  for await (const block of blocks) {
    await new Promise<void>((resolve, reject) => verifier.write(asScheduler(ledger, block), (err) => err == null ? resolve() : reject(err)))
  }
  verifier.end()
  await finished(collect)
  return result
}

function checkPieces (t: Test, pieces: readonly VerifiedPiece[], data: Buffer, geometry: PieceGeometry): void {
  for (const piece of pieces) {
    const start = piece.index * geometry.pieceLength
    t.equal(piece.data.length, geometry.pieceSize(piece.index), `piece ${piece.index} length`)
    t.ok(piece.data.equals(data.subarray(start, start + piece.data.length)), `piece ${piece.index} bytes`)
  }
}

const sortedIndexes = (pieces: readonly VerifiedPiece[]): number[] => pieces.map((p) => p.index).sort((a, b) => a - b)
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

t.test('defaults', async (t) => {
  t.same(VERIFIER_DEFAULTS, { readableHighWaterMark: 2, offloadMinLength: 128 * 1024, maxHashing: 4, maxHashingBytes: 1024 * 1024 })
  t.equal(verifierFor(torrent(10, 4, 1)).verifier.readableHighWaterMark, 2)
})

t.test('blocks in random order from several peers become the right pieces', async (t) => {
  const made = torrent(LENGTH, PIECE_LENGTH, 1)
  const { data, geometry } = made
  const random = seededRandom(3)
  for (let round = 0; round < 5; round++) {
    const blocks = shuffled(blocksOf(data, geometry, ['a', 'b', 'c'], random), random)
    const stage = verifierFor(made)
    const result = await run(made, blocks, stage)
    t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), `round ${round}: every piece once`)
    t.same([...result.verified].sort((a, b) => a - b), range(geometry.pieceCount))
    t.same(result.invalid, [])
    checkPieces(t, result.pieces, data, geometry)
    t.equal(stage.verifier.assemblingBytes, 0, 'nothing held once every piece is out')
    t.equal(result.ledger.count(PieceState.Verified), geometry.pieceCount, 'every verdict reported into the ledger')
  }
  // each block is copied into its piece's buffer once, so the wire's read chunks are free to go at once:
  // overwriting every block after the fact leaves the verified pieces intact
  const blocks = blocksOf(data, geometry, ['a'], random).map((b) => ({ ...b, data: Buffer.from(b.data) }))
  const result = await run(made, blocks)
  for (const b of blocks) b.data.fill(0xee)
  checkPieces(t, result.pieces, data, geometry)
})

t.test('a corrupted block: piece-invalid with the contributing peers, nothing pushed, then a good copy passes', async (t) => {
  const made = torrent(LENGTH, PIECE_LENGTH, 2)
  const { data, geometry } = made
  const random = seededRandom(4)
  const blocks = blocksOf(data, geometry, ['a', 'b', 'c', 'd'], random)
  const bad = blocks.findIndex((b) => b.index === 2 && b.offset === BLOCK)
  const corrupt = Buffer.from(blocks[bad]!.data)
  corrupt[100] ^= 0xff
  const badBlocks = blocks.map((b, i) => i === bad ? { ...b, data: corrupt } : b)
  const contributors = [...new Set(blocks.filter((b) => b.index === 2).map((b) => b.peer!))].sort()
  // then piece 2 again, all of it from peer 'e'
  const retry = blocks.filter((b) => b.index === 2).map((b) => ({ ...b, peer: 'e' }))
  const result = await run(made, [...shuffled(badBlocks, random), ...retry])
  t.equal(result.invalid.length, 1)
  t.equal(result.invalid[0]!.index, 2)
  t.same([...result.invalid[0]!.peers].sort(), contributors, 'every peer that sent a block of the piece')
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), 'the retry passes; the bad attempt was not pushed')
  t.equal(result.pieces.filter((p) => p.index === 2).length, 1)
  checkPieces(t, result.pieces, data, geometry)
})

t.test('a short or long block is dropped as a stray, not a crash; the right block then completes the piece', async (t) => {
  const made = torrent(LENGTH, PIECE_LENGTH, 5)
  const { data, geometry } = made
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1)).filter((b) => b.index === 0)
  const first = blocks.find((b) => b.offset === 0)!
  const short = { ...first, data: first.data.subarray(0, 100), peer: 's' }
  const long = { ...first, data: Buffer.concat([first.data, Buffer.alloc(1)]), peer: 'l' }
  const withoutFirst = blocks.filter((b) => b !== first)
  const dropped = await run(made, [short, long, ...withoutFirst])
  t.same(dropped.pieces, [], 'the piece is not complete without a whole first block')
  t.same(dropped.invalid, [])
  const result = await run(made, [short, long, ...blocks])
  t.same(sortedIndexes(result.pieces), [0])
  t.same(result.invalid, [], 'the strays were never part of the piece')
  checkPieces(t, result.pieces, data, geometry)
})

t.test('strays are dropped: unknown piece, unaligned offset, past the end of the piece', async (t) => {
  const made = torrent(LENGTH, PIECE_LENGTH, 6)
  const { data, geometry } = made
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1))
  const strays: Block[] = [
    { index: geometry.pieceCount, offset: 0, data: Buffer.alloc(BLOCK), peer: 'x' },
    { index: -1, offset: 0, data: Buffer.alloc(BLOCK), peer: 'x' },
    { index: 0, offset: 1, data: Buffer.alloc(BLOCK), peer: 'x' },
    { index: 0, offset: 3 * BLOCK, data: Buffer.alloc(BLOCK), peer: 'x' }, // the last block is only 1000 bytes
    { index: geometry.pieceCount - 1, offset: 2 * BLOCK, data: Buffer.alloc(1), peer: 'x' }
  ]
  const result = await run(made, [...strays, ...blocks])
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount))
  t.same(result.invalid, [])
  checkPieces(t, result.pieces, data, geometry)
})

t.test('duplicates are ignored: the first copy stays, a late copy never re-emits the piece', async (t) => {
  const made = torrent(LENGTH, PIECE_LENGTH, 7)
  const { data, geometry } = made
  const random = seededRandom(8)
  const blocks = blocksOf(data, geometry, ['a', 'b'], random)
  // every block twice, the second copy garbage from another peer: only the first copy counts
  const garbage = blocks.map((b) => ({ ...b, data: Buffer.alloc(b.data.length, 0xaa), peer: 'z' }))
  const mixed: Block[] = []
  blocks.forEach((b, i) => mixed.push(b, garbage[i]!))
  const stage = verifierFor(made)
  const result = await run(made, mixed, stage)
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), 'every piece exactly once')
  t.same(result.invalid, [], 'late garbage copies of finished pieces are not assembled into a new attempt')
  checkPieces(t, result.pieces, data, geometry)
  t.equal(stage.verifier.assemblingBytes, 0, 'and nothing is left held')

  // a one-block piece: its endgame duplicate must not push the piece a second time
  const small = torrent(BLOCK, BLOCK, 9)
  const block: Block = { index: 0, offset: 0, data: small.data, peer: 'a' }
  const twice = await run(small, [block, { ...block, peer: 'b' }])
  t.equal(twice.pieces.length, 1)
  t.same(twice.verified, [0])
})

t.test('an invalid piece is recorded in the ledger with who sent each block, then downloaded again', async (t) => {
  const made = torrent(2 * BLOCK, BLOCK, 10)
  const { data } = made
  const good: Block = { index: 1, offset: 0, data: data.subarray(BLOCK), peer: 'a' }
  const bad: Block = { ...good, data: Buffer.alloc(BLOCK), peer: 'b' }
  const stage = verifierFor(made)
  const changes: unknown[] = []
  stage.ledger.onChange((c) => { if (c.type === 'invalid' || c.type === 'liars') changes.push(c) })
  const result = await run(made, [bad, bad, good, good], stage)
  t.same(result.invalid, [{ index: 1, peers: ['b'] }, { index: 1, peers: ['b'] }])
  t.same(result.verified, [1])
  t.equal(result.pieces.length, 1)
  t.same(changes, [
    { type: 'invalid', index: 1, contributors: ['b'] },
    { type: 'invalid', index: 1, contributors: ['b'] },
    { type: 'liars', index: 1, peers: ['b'] }
  ], 'the ledger names the sole contributor, and once the piece verifies, the peer whose block differed')
})

t.test('blocks of a piece reset since (a failed hash, a banned contributor) are stale and dropped', async (t) => {
  const made = torrent(LENGTH, PIECE_LENGTH, 11)
  const { data, geometry } = made
  const stage = verifierFor(made)
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1)).filter((b) => b.index === 1)
  const write = async (b: Block): Promise<void> => await new Promise((resolve, reject) => stage.verifier.write(b, (err) => err == null ? resolve() : reject(err)))
  await write(asScheduler(stage.ledger, blocks[0]!))
  const stale = asScheduler(stage.ledger, { ...blocks[1]!, data: Buffer.alloc(BLOCK, 0x55) })
  t.equal(stage.verifier.assemblingBytes, geometry.pieceLength, 'one piece buffer held')
  stage.ledger.resetPiece(1) // its received blocks are thrown away, the generation grows
  t.equal(stage.verifier.assemblingBytes, 0, 'the reset frees the buffer at once')
  await write(stale) // stamped before the reset: dropped
  for (const b of blocks) await write(asScheduler(stage.ledger, b))
  const piece = stage.verifier.read() as VerifiedPiece
  t.equal(piece.index, 1, 'the piece assembles again from scratch')
  t.ok(piece.data.equals(data.subarray(PIECE_LENGTH, 2 * PIECE_LENGTH)), 'without the stale block')
  t.equal(stage.ledger.state(1), PieceState.Verified)
})

t.test('a block for a piece that is not assembling is dropped (never opened, already verified)', async (t) => {
  const made = torrent(2 * BLOCK, BLOCK, 13)
  const stage = verifierFor(made)
  const verified: number[] = []
  stage.verifier.on('piece-verified', (i: number) => verified.push(i))
  stage.verifier.resume()
  stage.verifier.write({ index: 0, offset: 0, data: made.data.subarray(0, BLOCK), peer: 'a' })
  await new Promise((resolve) => setImmediate(resolve))
  t.same(verified, [], 'the piece was never opened in the ledger: not the scheduler\'s block')
  t.equal(stage.ledger.state(0), PieceState.Missing)
})

t.test('backpressure: with the readable side full the write callback is held', async (t) => {
  const made = torrent(4 * BLOCK, BLOCK, 12)
  const { data, geometry } = made
  const { verifier, ledger } = verifierFor(made, { readableHighWaterMark: 1 })
  const blocks = blocksOf(data, geometry, ['a'], seededRandom(1)).map((b) => asScheduler(ledger, b))
  const done: number[] = []
  blocks.forEach((b) => verifier.write(b, () => done.push(b.index)))
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
  t.same(done, [], 'piece 0 fills the readable side: the callback of the block that completed it is held')
  t.equal(verifier.readableLength, 1)
  t.equal(verifier.writableLength > 0, true, 'later blocks wait in the writable buffer')
  const read: number[] = []
  for (let i = 0; i < 4; i++) {
    for (let k = 0; k < 5; k++) await new Promise((resolve) => setImmediate(resolve))
    const piece = verifier.read() as VerifiedPiece | null
    if (piece !== null) read.push(piece.index)
  }
  for (let k = 0; k < 5; k++) await new Promise((resolve) => setImmediate(resolve))
  t.same(read, [0, 1, 2, 3], 'each read lets exactly the next piece through')
  t.same(done, [0, 1, 2, 3])
})

t.test('backpressure: while maxHashing pieces are at the hasher the write callback is held', async (t) => {
  const made = torrent(6 * BLOCK, BLOCK, 14)
  const pending: Array<() => void> = []
  // a hasher that answers only when the test says so
  const hasher = { sha1: (data: Buffer) => new Promise<Buffer>((resolve) => { pending.push(() => resolve(createHash('sha1').update(data).digest())) }) }
  const { verifier, ledger } = verifierFor(made, { hasher, offloadMinLength: 0, maxHashing: 2, maxHashingBytes: 0 })
  verifier.resume()
  const blocks = blocksOf(made.data, made.geometry, ['a'], seededRandom(1)).map((b) => asScheduler(ledger, b))
  const done: number[] = []
  blocks.forEach((b) => verifier.write(b, () => done.push(b.index)))
  for (let k = 0; k < 10; k++) await new Promise((resolve) => setImmediate(resolve))
  t.same(done, [0], 'two pieces at the hasher: the second one\'s callback is held')
  t.equal(ledger.count(PieceState.Hashing), 2)
  pending.shift()!()
  for (let k = 0; k < 10; k++) await new Promise((resolve) => setImmediate(resolve))
  t.same(done, [0, 1], 'one verdict frees one place')
  while (pending.length > 0) { pending.shift()!(); for (let k = 0; k < 10; k++) await new Promise((resolve) => setImmediate(resolve)) }
  t.same(done, range(6))
  t.equal(ledger.count(PieceState.Verified), 6)
})

t.test('backpressure in bytes: small pieces go to the hasher while fewer than maxHashingBytes are there', async (t) => {
  const made = torrent(8 * BLOCK, BLOCK, 15)
  const pending: Array<() => void> = []
  const hasher = { sha1: (data: Buffer) => new Promise<Buffer>((resolve) => { pending.push(() => resolve(createHash('sha1').update(data).digest())) }) }
  const { verifier, ledger } = verifierFor(made, { hasher, offloadMinLength: 0, maxHashing: 1, maxHashingBytes: 3 * BLOCK })
  verifier.resume()
  const blocks = blocksOf(made.data, made.geometry, ['a'], seededRandom(2)).map((b) => asScheduler(ledger, b))
  const done: number[] = []
  blocks.forEach((b) => verifier.write(b, () => done.push(b.index)))
  const turns = async (): Promise<void> => { for (let k = 0; k < 10; k++) await new Promise((resolve) => setImmediate(resolve)) }
  await turns()
  t.equal(ledger.count(PieceState.Hashing), 3, 'three pieces of one block each at the hasher, not one')
  t.equal(done.length, 2, 'the third one\'s callback is held')
  pending.shift()!()
  await turns()
  t.equal(ledger.count(PieceState.Hashing), 3, 'one verdict, one more piece')
  while (pending.length > 0) { pending.shift()!(); await turns() }
  t.equal(ledger.count(PieceState.Verified), 8)
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
  const made = torrent(LENGTH, PIECE_LENGTH, 21)
  const { data, geometry } = made
  const worker = new PieceWorker()
  t.teardown(async () => { await worker.close() })
  const random = seededRandom(22)
  const blocks = blocksOf(data, geometry, ['a', 'b', 'c'], random)
  const bad = blocks.findIndex((b) => b.index === 1 && b.offset === 0)
  const corrupt = Buffer.from(blocks[bad]!.data)
  corrupt[7] ^= 0x01
  const retry = blocks.filter((b) => b.index === 1).map((b) => ({ ...b, peer: 'e' }))
  const stage = verifierFor(made, { offloadMinLength: 0, hasher: worker })
  const invalid = new Promise((resolve) => stage.verifier.once('piece-invalid', resolve))
  // a late duplicate of every block too (ignored while its piece is at the worker, or once verified); the retry of
  // piece 1 comes after its verdict, as the scheduler sends it
  async function * input (): AsyncGenerator<Block> {
    yield * shuffled(blocks.map((b, i) => i === bad ? { ...b, data: corrupt } : b), random)
    yield * blocks
    await invalid
    yield * retry
  }
  const result = await run(made, input(), stage)
  t.ok(worker.answered >= geometry.pieceCount, `the worker hashed (${worker.answered} jobs)`)
  t.same(sortedIndexes(result.pieces), range(geometry.pieceCount), 'every piece once, none lost at the end')
  t.same(result.invalid.map((i) => i.index), [1], 'the corrupted attempt reported')
  checkPieces(t, result.pieces, data, geometry)
  t.equal(stage.verifier.assemblingBytes, 0)
})

t.test('pieces below offloadMinLength, or without a hasher, are hashed inline (verified before the write returns)', async (t) => {
  const made = torrent(2 * BLOCK, 2 * BLOCK, 23)
  const { data } = made
  const worker = new PieceWorker()
  t.teardown(async () => { await worker.close() })
  for (const opts of [{ hasher: worker }, { offloadMinLength: 0 }]) {
    const { verifier, ledger } = verifierFor(made, opts)
    const verified: number[] = []
    verifier.on('piece-verified', (i: number) => verified.push(i))
    verifier.resume()
    verifier.write(asScheduler(ledger, { index: 0, offset: 0, data: data.subarray(0, BLOCK) }))
    verifier.write(asScheduler(ledger, { index: 0, offset: BLOCK, data: data.subarray(BLOCK) }))
    await new Promise((resolve) => setImmediate(resolve))
    t.same(verified, [0], Object.keys(opts).join())
    t.equal(worker.answered, 0, 'nothing went to the worker')
    verifier.destroy()
  }
})
