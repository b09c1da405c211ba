import t, { type Test } from 'tap'
import { MemoryStore } from '../lib/store/memory-store.js'
import { createGeometry } from '../lib/geometry.js'
import { ReadCache, READ_CACHE_DEFAULTS } from '../lib/read-cache.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { MULTI } from './helpers/torrent-fixtures.js'
import { makeTorrent, pieceBytes, shuffled } from './helpers/make-torrent.js'

const made = makeTorrent(MULTI, { seed: 41, pad: true })
const meta = made.meta
const BLOCK = 16384
const geometry = createGeometry(meta)

/** A store holding the whole torrent, with its reads counted (and optionally failing). */
async function filled (t: Test): Promise<{ storage: MemoryStore, diskReads: () => number, failNext: () => void }> {
  const storage = new MemoryStore(meta)
  await storage.open()
  for (let i = 0; i < meta.pieceCount; i++) await storage.writePiece(i, pieceBytes(made, i))
  const read = storage.read.bind(storage)
  let reads = 0
  let fail = false
  storage.read = async (index: number, offset: number, length: number) => {
    reads++
    if (fail) { fail = false; throw new Error('EIO: i/o error, read') }
    return await read(index, offset, length)
  }
  t.teardown(async () => { await storage.close() })
  return { storage, diskReads: () => reads, failNext: () => { fail = true } }
}

/** Every block of the torrent as [index, offset, length]. */
function blocks (): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = []
  for (let i = 0; i < meta.pieceCount; i++) {
    const length = pieceBytes(made, i).length
    for (let offset = 0; offset < length; offset += BLOCK) out.push([i, offset, Math.min(BLOCK, length - offset)])
  }
  return out
}

t.test('the layout has what the tests need', async (t) => {
  t.ok(meta.pieceLength >= 2 * BLOCK, 'pieces of several blocks')
  t.not(meta.lastPieceLength, meta.pieceLength, 'a short last piece')
  t.equal(READ_CACHE_DEFAULTS.unitLength, 1024 * 1024)
})

t.test('every block, in any order, is the right bytes; each piece is read from disk once', async (t) => {
  const { storage, diskReads } = await filled(t)
  const cache = new ReadCache(storage, geometry) // default: 8 MiB, the whole small torrent fits
  // blocks in order within pieces (as peers request), pieces in random order
  for (const index of shuffled([...Array(meta.pieceCount).keys()], seededRandom(1))) {
    for (const [i, offset, length] of blocks().filter(([i]) => i === index)) {
      const data = await cache.read(i, offset, length)
      if (!data.equals(pieceBytes(made, i).subarray(offset, offset + length))) t.fail(`piece ${i} offset ${offset}`)
    }
  }
  t.equal(diskReads(), meta.pieceCount, 'one disk read per piece, not per block')
  t.equal(cache.reads, meta.pieceCount)
  // all again, in random block order: from memory
  for (const [i, offset, length] of shuffled(blocks(), seededRandom(2))) {
    const data = await cache.read(i, offset, length)
    if (!data.equals(pieceBytes(made, i).subarray(offset, offset + length))) t.fail(`again: piece ${i} offset ${offset}`)
  }
  t.equal(diskReads(), meta.pieceCount, 'no more disk reads')
})

t.test('a block handed out is a copy: changing it does not change the next read', async (t) => {
  const { storage } = await filled(t)
  const cache = new ReadCache(storage, geometry)
  const first = await cache.read(0, 0, BLOCK)
  first.fill(0xee)
  t.ok((await cache.read(0, 0, BLOCK)).equals(pieceBytes(made, 0).subarray(0, BLOCK)))
})

t.test('concurrent requests for one piece share a single disk read', async (t) => {
  const { storage, diskReads } = await filled(t)
  const cache = new ReadCache(storage, geometry)
  const all = blocks().filter(([i]) => i === 1)
  const got = await Promise.all(all.map(async ([i, offset, length]) => await cache.read(i, offset, length)))
  t.equal(diskReads(), 1)
  t.ok(Buffer.concat(got).equals(pieceBytes(made, 1)))
})

t.test('memory is bounded by maxBytes: least recently used units are dropped, bytes stay right', async (t) => {
  const { storage, diskReads } = await filled(t)
  const maxBytes = 2 * meta.pieceLength
  const cache = new ReadCache(storage, geometry, { maxBytes })
  let most = 0
  for (const [i, offset, length] of shuffled(blocks(), seededRandom(3))) {
    const data = await cache.read(i, offset, length)
    most = Math.max(most, cache.bytes)
    if (!data.equals(pieceBytes(made, i).subarray(offset, offset + length))) t.fail(`piece ${i} offset ${offset}`)
  }
  t.ok(most <= maxBytes, `held at most ${most} bytes`)
  t.ok(diskReads() > meta.pieceCount, `random order over a small cache re-reads (${diskReads()} reads)`)
  // the most recently used piece stays: reading piece 0 twice in a row reads it once
  const before = diskReads()
  await cache.read(0, 0, BLOCK)
  await cache.read(0, BLOCK, BLOCK)
  t.ok(diskReads() - before <= 1)
})

t.test('units smaller than a piece: aligned windows; a block across a window edge is read directly', async (t) => {
  const { storage, diskReads } = await filled(t)
  const cache = new ReadCache(storage, geometry, { unitLength: BLOCK })
  for (const [i, offset, length] of blocks()) {
    if (!(await cache.read(i, offset, length)).equals(pieceBytes(made, i).subarray(offset, offset + length))) t.fail(`${i}/${offset}`)
  }
  t.equal(diskReads(), blocks().length, 'one read per 16 KiB window')
  const odd = new ReadCache(storage, geometry, { unitLength: 10_000 })
  const before = diskReads()
  const data = await odd.read(0, 5000, 10_000) // crosses the 10 000-byte edge
  t.ok(data.equals(pieceBytes(made, 0).subarray(5000, 15_000)))
  t.equal(diskReads() - before, 1, 'read directly')
  t.equal(odd.bytes, 0, 'and not cached')
})

t.test('a failed read is reported and not cached: the next request reads again', async (t) => {
  const { storage, diskReads, failNext } = await filled(t)
  const cache = new ReadCache(storage, geometry)
  failNext()
  await t.rejects(cache.read(2, 0, BLOCK), /EIO/)
  t.equal(cache.bytes, 0)
  t.ok((await cache.read(2, 0, BLOCK)).equals(pieceBytes(made, 2).subarray(0, BLOCK)))
  t.equal(diskReads(), 2)
})
