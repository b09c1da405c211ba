import t, { type Test } from 'tap'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { sliceBuffers, Storage, STORAGE_DEFAULTS } from '../lib/storage.js'
import { isZentorrentError } from '../lib/errors.js'
import { seededBytes, seededRandom } from './helpers/create-fixtures.js'
import { MULTI, SINGLE } from './helpers/torrent-fixtures.js'
import { differingFiles, fileBytes, makeTorrent, pathOf, pieceBytes, shuffled, verifiedPiece, type MadeTorrent } from './helpers/make-torrent.js'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

async function writeAll (storage: Storage, made: MadeTorrent, indexes: readonly number[], random: () => number): Promise<void> {
  for (const index of indexes) {
    const piece = verifiedPiece(made, index, random)
    await storage.writePiece(piece.index, piece.blocks, piece.length)
  }
}

const variants = [
  { name: 'multi-file', made: makeTorrent(MULTI, { seed: 1 }) },
  { name: 'multi-file with BEP 47 pad files', made: makeTorrent(MULTI, { seed: 2, pad: true }) },
  { name: 'single file', made: makeTorrent(SINGLE, { seed: 3 }) }
]

t.test('the layouts hold what the tests claim', async (t) => {
  const padded = variants[1]!.made.meta
  t.ok(padded.files.some((f) => f.pad), 'a pad file')
  t.ok(padded.files.some((f) => f.length === 0), 'a zero-length file')
  t.ok(padded.files.some((f) => f.path.length > 3), 'nested directories')
  t.ok(padded.files.some((f) => !f.pad && f.length > 0 && f.length < padded.pieceLength), 'files smaller than a piece')
  t.not(padded.lastPieceLength, padded.pieceLength, 'an odd last piece')
  t.equal(STORAGE_DEFAULTS.maxOpenFiles, 64)
})

for (const { name, made } of variants) {
  for (const maxOpenFiles of [STORAGE_DEFAULTS.maxOpenFiles, 2, 1]) {
    t.test(`${name}, maxOpenFiles ${maxOpenFiles}: pieces in random order land byte for byte`, async (t) => {
      const root = t.testdir()
      const random = seededRandom(maxOpenFiles)
      const storage = new Storage(made.meta, root, { maxOpenFiles })
      await storage.prepare()
      await writeAll(storage, made, shuffled(range(made.meta.pieceCount), random), random)
      await storage.close()
      t.same(await differingFiles(root, made), [])
      for (let i = 0; i < made.meta.files.length; i++) {
        const file = made.meta.files[i]!
        if (file.pad) t.notOk(existsSync(pathOf(root, made.meta, i)), `pad ${file.path.join('/')} never created`)
      }
      t.notOk(existsSync(join(root, made.meta.name, '.pad')), 'not even its directory')
    })
  }

  t.test(`${name}: concurrent writes and reads with 2 handles`, async (t) => {
    const root = t.testdir()
    const random = seededRandom(5)
    const storage = new Storage(made.meta, root, { maxOpenFiles: 2 })
    await storage.prepare()
    await Promise.all(range(made.meta.pieceCount).map(async (index) => {
      const piece = verifiedPiece(made, index, random)
      await storage.writePiece(index, piece.blocks, piece.length)
    }))
    const reads = await Promise.all(range(made.meta.pieceCount).map(async (index) => await storage.read(index, 0, pieceBytes(made, index).length)))
    reads.forEach((bytes, index) => t.ok(bytes.equals(pieceBytes(made, index)), `piece ${index} read back`))
    await storage.close()
    t.same(await differingFiles(root, made), [])
  })

  t.test(`${name}: read() returns the right bytes across file boundaries, pads as zeros`, async (t) => {
    const root = t.testdir()
    const random = seededRandom(6)
    const storage = new Storage(made.meta, root, { maxOpenFiles: 2 })
    await storage.prepare()
    await writeAll(storage, made, range(made.meta.pieceCount), random)
    for (let k = 0; k < 300; k++) {
      const index = Math.floor(random() * made.meta.pieceCount)
      const size = pieceBytes(made, index).length
      const offset = Math.floor(random() * size)
      const length = Math.floor(random() * (size - offset + 1))
      const bytes = await storage.read(index, offset, length)
      if (!bytes.equals(pieceBytes(made, index).subarray(offset, offset + length))) t.fail(`piece ${index} [${offset}, +${length})`)
    }
    for (let i = 0; i < made.meta.files.length; i++) {
      const file = made.meta.files[i]!
      if (!file.pad) continue
      const index = Math.floor(file.offset / made.meta.pieceLength)
      const bytes = await storage.read(index, file.offset - index * made.meta.pieceLength, file.length)
      t.ok(bytes.equals(Buffer.alloc(file.length)), `pad ${file.path.join('/')} reads as zeros`)
    }
    await storage.close()
  })
}

t.test('files are sized sparse on first open and never truncated when reopened (resume)', async (t) => {
  const made = variants[0]!.made
  const root = t.testdir()
  const random = seededRandom(7)
  const order = shuffled(range(made.meta.pieceCount), random)
  const half = order.slice(0, Math.ceil(order.length / 2))

  const first = new Storage(made.meta, root)
  await first.prepare()
  await writeAll(first, made, half, random)
  await first.close()
  const sizes = new Map<number, number>()
  for (let i = 0; i < made.meta.files.length; i++) {
    const path = pathOf(root, made.meta, i)
    if (existsSync(path)) sizes.set(i, (await stat(path)).size)
  }
  for (const [i, size] of sizes) t.equal(size, made.meta.files[i]!.length, `${made.meta.files[i]!.path.join('/')} has its full length`)

  // a second run: opening (for reading and writing) must keep what the first run wrote
  const second = new Storage(made.meta, root, { maxOpenFiles: 2 })
  for (const index of half) t.ok((await second.read(index, 0, pieceBytes(made, index).length)).equals(pieceBytes(made, index)), `piece ${index} kept`)
  await writeAll(second, made, order.slice(half.length), random)
  await second.close()
  t.same(await differingFiles(root, made), [])

  // a file longer than the torrent says (not ours to cut) keeps its extra bytes
  const path = pathOf(root, made.meta, 1)
  const longer = Buffer.concat([fileBytes(made, 1), Buffer.from('tail')])
  await writeFile(path, longer)
  const third = new Storage(made.meta, root)
  await writeAll(third, made, range(made.meta.pieceCount), random)
  await third.close()
  t.ok((await readFile(path)).equals(longer))
})

t.test('existingSizes and isStored', async (t) => {
  const made = variants[1]!.made
  const root = t.testdir()
  const files = made.meta.files
  const selected = new Set([0, files.length - 1])
  const storage = new Storage(made.meta, root, { selected })
  t.same(await storage.existingSizes(), files.map(() => -1), 'nothing yet')
  t.same(files.map((_, i) => storage.isStored(i)), files.map((f, i) => !f.pad && selected.has(i)))
  await storage.prepare()
  await writeAll(storage, made, range(made.meta.pieceCount), seededRandom(8))
  await storage.close()
  t.same(await storage.existingSizes(), files.map((f, i) => selected.has(i) ? f.length : -1))
  for (let i = 0; i < files.length; i++) {
    if (selected.has(i)) t.ok((await readFile(pathOf(root, made.meta, i))).equals(fileBytes(made, i)))
    else t.notOk(existsSync(pathOf(root, made.meta, i)), `${files[i]!.path.join('/')} not selected: not created`)
  }
  // the bytes of unselected files that verified pieces carried are kept in the part file, at their torrent
  // offsets: a later run reads them back (resume, serving a piece that straddles a selected file)
  t.ok(existsSync(storage.partPath!), 'the part file exists')
  const other = new Storage(made.meta, root, { selected })
  const middle = files.findIndex((f, i) => !f.pad && !selected.has(i) && f.length > 0)
  const file = files[middle]!
  const index = Math.floor(file.offset / made.meta.pieceLength)
  const offset = file.offset % made.meta.pieceLength
  const length = Math.min(100, file.length, made.meta.pieceLength - offset)
  t.ok((await other.read(index, offset, length)).equals(fileBytes(made, middle).subarray(0, length)),
    'an unselected file\'s bytes come back from the part file')
  await other.close()
})

t.test('a directory that cannot be made gives a ZentorrentError with a code, not a crash', async (t) => {
  const made = variants[0]!.made
  const dir = t.testdir({ 'file.txt': 'a regular file' })
  const root = join(dir, 'file.txt', 'sub') // ENOTDIR (chmod would not stop root)
  const storage = new Storage(made.meta, root)
  const ioError = async (work: Promise<unknown>, what: string): Promise<void> => {
    const err = await work.then(() => null, (e: unknown) => e)
    t.ok(isZentorrentError(err, 'IO_ERROR') && err.message.includes(root) && (err.cause as NodeJS.ErrnoException).code === 'ENOTDIR', what)
  }
  await ioError(storage.prepare(), 'prepare')
  const piece = verifiedPiece(made, 0, seededRandom(9))
  await ioError(storage.writePiece(0, piece.blocks, piece.length), 'writePiece')
  await ioError(storage.writePiece(0, piece.blocks, piece.length), 'writePiece again: a failed open is not cached')
  await ioError(storage.read(0, 0, 10), 'read')
  t.same(await storage.existingSizes(), made.meta.files.map(() => -1))
  await storage.close()
  await t.rejects(storage.read(0, 0, 10), /closed/, 'closed storage refuses work')
  t.same(await readdir(dir), ['file.txt'])
})

t.test('sliceBuffers is a view of the concatenation', async (t) => {
  const random = seededRandom(10)
  for (let run = 0; run < 500; run++) {
    const buffers = Array.from({ length: Math.floor(random() * 6) }, (_, i) => seededBytes(Math.floor(random() * 20), run * 10 + i))
    const whole = Buffer.concat(buffers)
    const offset = Math.floor(random() * (whole.length + 1))
    const length = Math.floor(random() * (whole.length - offset + 1))
    const parts = sliceBuffers(buffers, offset, length)
    if (!Buffer.concat(parts).equals(whole.subarray(offset, offset + length))) t.fail(`run ${run}`)
    if (parts.some((p) => p.length === 0)) t.fail(`run ${run}: an empty part`)
  }
  t.pass('500 random slices')
})

/**
 * Storage loaded with a fake `node:fs/promises` whose `open` returns the given handle methods (plus a counted
 * `close`): for provoking disk errors and checking that no handle leaks.
 */
async function storageWithFakeFs (t: Test, handle: Record<string, () => Promise<unknown>>): Promise<{
  Storage: typeof import('../lib/storage.js').Storage
  counts: { opened: number, closed: number }
}> {
  const counts = { opened: 0, closed: 0 }
  const actual = await import('node:fs/promises')
  const fake = {
    ...actual,
    open: async () => {
      counts.opened++
      return { ...handle, close: async () => { counts.closed++ } }
    }
  }
  const { Storage } = await t.mockImport<typeof import('../lib/storage.js')>('../lib/storage.js', { 'node:fs/promises': fake })
  return { Storage, counts }
}

t.test('a failing write gives DISK_FULL and its file handle is closed, not leaked', async (t) => {
  const made = variants[0]!.made
  const { Storage: MockedStorage, counts } = await storageWithFakeFs(t, {
    stat: async () => ({ size: Number.MAX_SAFE_INTEGER }),
    truncate: async () => {},
    writev: async () => { throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) }
  })
  const storage = new MockedStorage(made.meta, t.testdir(), { maxOpenFiles: 2 })
  const random = seededRandom(11)
  for (const index of range(made.meta.pieceCount)) {
    const piece = verifiedPiece(made, index, random)
    const err = await storage.writePiece(index, piece.blocks, piece.length).then(() => null, (e: unknown) => e)
    t.ok(isZentorrentError(err, 'DISK_FULL'), `piece ${index}: DISK_FULL`)
  }
  await storage.close()
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(counts.opened > 0)
  t.equal(counts.closed, counts.opened, 'every handle opened was closed')
})

t.test('a file that cannot be sized is closed, not leaked', async (t) => {
  const made = variants[0]!.made
  const { Storage: MockedStorage, counts } = await storageWithFakeFs(t, {
    stat: async () => ({ size: 0 }),
    truncate: async () => { throw Object.assign(new Error('EFBIG: file too large'), { code: 'EFBIG' }) }
  })
  const storage = new MockedStorage(made.meta, t.testdir())
  const piece = verifiedPiece(made, 0, seededRandom(12))
  const err = await storage.writePiece(0, piece.blocks, piece.length).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(err, 'IO_ERROR'))
  await storage.close()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(counts.closed, counts.opened, 'the handle opened before sizing failed was closed')
})

t.test('pieces are written in calls of at most writeChunk bytes, short writes resumed, bytes exact', async (t) => {
  t.equal(STORAGE_DEFAULTS.writeChunk, 256 * 1024)
  const actual = await import('node:fs/promises')
  for (const { name, made } of variants) {
    for (const writeChunk of [1000, 4097]) {
      const sizes: number[] = []
      const fake = {
        ...actual,
        open: async (...args: Parameters<typeof actual.open>) => {
          const real = await actual.open(...args)
          return {
            stat: async () => await real.stat(),
            truncate: async (n: number) => await real.truncate(n),
            read: async (...a: Parameters<typeof real.read>) => await real.read(...a),
            close: async () => await real.close(),
            // a disk that writes at most 3/4 of what it is given (rounded down, at least 1 byte)
            writev: async (buffers: Buffer[], position: number) => {
              const asked = buffers.reduce((n, b) => n + b.length, 0)
              sizes.push(asked)
              return await real.writev(sliceBuffers(buffers, 0, Math.max(1, Math.floor(asked * 3 / 4))), position)
            }
          }
        }
      }
      const { Storage: MockedStorage } = await t.mockImport<typeof import('../lib/storage.js')>('../lib/storage.js', { 'node:fs/promises': fake })
      const root = t.testdir()
      const random = seededRandom(writeChunk)
      const storage = new MockedStorage(made.meta, root, { writeChunk })
      await storage.prepare()
      await writeAll(storage, made, shuffled(range(made.meta.pieceCount), random), random)
      await storage.close()
      t.same(await differingFiles(root, made), [], `${name}, writeChunk ${writeChunk}: files exact`)
      t.ok(sizes.length > made.meta.pieceCount, `${name}, writeChunk ${writeChunk}: pieces split (${sizes.length} calls)`)
      t.equal(Math.max(...sizes), writeChunk, `${name}, writeChunk ${writeChunk}: no call larger than writeChunk`)
    }
  }
})

t.test('pieces in shared memory are written by the piece worker, byte for byte, across files', async (t) => {
  const { PieceWorker } = await import('../lib/piece-worker.js')
  for (const { name, made } of variants) {
    const worker = new PieceWorker({ chunk: 4096 })
    const root = t.testdir()
    const random = seededRandom(31)
    const storage = new Storage(made.meta, root, { pieceWorker: worker })
    await storage.prepare()
    for (const index of shuffled(range(made.meta.pieceCount), random)) {
      const bytes = pieceBytes(made, index)
      const piece = Buffer.from(new SharedArrayBuffer(bytes.length))
      bytes.copy(piece)
      await storage.writePiece(index, [piece], piece.length)
    }
    await storage.close()
    await worker.close()
    t.same(await differingFiles(root, made), [], `${name}: files exact`)
    t.ok(worker.answered >= made.meta.pieceCount, `${name}: written by the worker (${worker.answered} writes)`)
  }
})
