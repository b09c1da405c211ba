import t, { type Test } from 'tap'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { existsSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { FileStore, FILE_STORE_DEFAULTS } from '../lib/store/file-store.js'
import type { PieceWorker } from '../lib/piece-worker.js'
import { isZentorrentError } from '../lib/errors.js'
import { seededBytes, seededRandom } from './helpers/create-fixtures.js'
import { MULTI, SINGLE } from './helpers/torrent-fixtures.js'
import { differingFiles, fileBytes, makeTorrent, pathOf, pieceBytes, shuffled, verifiedPiece, type MadeTorrent } from './helpers/make-torrent.js'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

async function writeAll (storage: FileStore, made: MadeTorrent, indexes: readonly number[]): Promise<void> {
  for (const index of indexes) await storage.writePiece(index, verifiedPiece(made, index).data)
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
  t.equal(FILE_STORE_DEFAULTS.maxOpenFiles, 64)
})

for (const { name, made } of variants) {
  for (const maxOpenFiles of [FILE_STORE_DEFAULTS.maxOpenFiles, 2, 1]) {
    t.test(`${name}, maxOpenFiles ${maxOpenFiles}: pieces in random order land byte for byte`, async (t) => {
      const root = t.testdir()
      const random = seededRandom(maxOpenFiles)
      const storage = new FileStore(made.meta, root, { maxOpenFiles })
      await storage.open()
      await writeAll(storage, made, shuffled(range(made.meta.pieceCount), random))
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
    const storage = new FileStore(made.meta, root, { maxOpenFiles: 2 })
    await storage.open()
    await Promise.all(range(made.meta.pieceCount).map(async (index) => { await storage.writePiece(index, verifiedPiece(made, index).data) }))
    const reads = await Promise.all(range(made.meta.pieceCount).map(async (index) => await storage.read(index, 0, pieceBytes(made, index).length)))
    reads.forEach((bytes, index) => t.ok(bytes.equals(pieceBytes(made, index)), `piece ${index} read back`))
    await storage.close()
    t.same(await differingFiles(root, made), [])
  })

  t.test(`${name}: read() returns the right bytes across file boundaries, pads as zeros`, async (t) => {
    const root = t.testdir()
    const random = seededRandom(6)
    const storage = new FileStore(made.meta, root, { maxOpenFiles: 2 })
    await storage.open()
    await writeAll(storage, made, range(made.meta.pieceCount))
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

  const first = new FileStore(made.meta, root)
  await first.open()
  await writeAll(first, made, half)
  await first.close()
  const sizes = new Map<number, number>()
  for (let i = 0; i < made.meta.files.length; i++) {
    const path = pathOf(root, made.meta, i)
    if (existsSync(path)) sizes.set(i, (await stat(path)).size)
  }
  for (const [i, size] of sizes) t.equal(size, made.meta.files[i]!.length, `${made.meta.files[i]!.path.join('/')} has its full length`)

  // a second run: opening (for reading and writing) must keep what the first run wrote
  const second = new FileStore(made.meta, root, { maxOpenFiles: 2 })
  for (const index of half) t.ok((await second.read(index, 0, pieceBytes(made, index).length)).equals(pieceBytes(made, index)), `piece ${index} kept`)
  await writeAll(second, made, order.slice(half.length))
  await second.close()
  t.same(await differingFiles(root, made), [])

  // a file longer than the torrent says (not ours to cut) keeps its extra bytes
  const path = pathOf(root, made.meta, 1)
  const longer = Buffer.concat([fileBytes(made, 1), Buffer.from('tail')])
  await writeFile(path, longer)
  const third = new FileStore(made.meta, root)
  await writeAll(third, made, range(made.meta.pieceCount))
  await third.close()
  t.ok((await readFile(path)).equals(longer))
})

t.test('present and isStored', async (t) => {
  const made = variants[1]!.made
  const root = t.testdir()
  const files = made.meta.files
  const selected = new Set([0, files.length - 1])
  const storage = new FileStore(made.meta, root, { selected })
  const all = range(made.meta.pieceCount)
  const presentNow = async (): Promise<number[]> => { const present = await storage.present(); return all.filter((i) => present(i)) }
  t.same(await presentNow(), [], 'nothing yet')
  t.same(files.map((_, i) => storage.isStored(i)), files.map((f, i) => !f.pad && selected.has(i)))
  await storage.open()
  await writeAll(storage, made, range(made.meta.pieceCount))
  await storage.close()
  t.same(await presentNow(), all, 'every piece may be there (selected files and the part file hold them)')
  for (let i = 0; i < files.length; i++) {
    if (selected.has(i)) t.ok((await readFile(pathOf(root, made.meta, i))).equals(fileBytes(made, i)))
    else t.notOk(existsSync(pathOf(root, made.meta, i)), `${files[i]!.path.join('/')} not selected: not created`)
  }
  // the bytes of unselected files that verified pieces carried are kept in the part file, at their torrent
  // offsets: a later run reads them back (resume, serving a piece that straddles a selected file)
  t.ok(existsSync(storage.partPath!), 'the part file exists')
  const other = new FileStore(made.meta, root, { selected })
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
  const storage = new FileStore(made.meta, root)
  const ioError = async (work: Promise<unknown>, what: string): Promise<void> => {
    const err = await work.then(() => null, (e: unknown) => e)
    t.ok(isZentorrentError(err, 'IO_ERROR') && err.message.includes(root) && (err.cause as NodeJS.ErrnoException).code === 'ENOTDIR', what)
  }
  await ioError(storage.open(), 'prepare')
  const piece = verifiedPiece(made, 0)
  await ioError(storage.writePiece(0, piece.data), 'writePiece')
  await ioError(storage.writePiece(0, piece.data), 'writePiece again: a failed open is not cached')
  await ioError(storage.read(0, 0, 10), 'read')
  t.notOk((await storage.present())(0), 'nothing present')
  await storage.close()
  await t.rejects(storage.read(0, 0, 10), /closed/, 'closed storage refuses work')
  t.same(await readdir(dir), ['file.txt'])
})

/**
 * FileStore loaded with a fake `node:fs/promises` whose `open` returns the given handle methods (plus a counted
 * `close`): for provoking disk errors and checking that no handle leaks.
 */
async function storageWithFakeFs (t: Test, handle: Record<string, () => Promise<unknown>>): Promise<{
  Storage: typeof import('../lib/store/file-store.js').FileStore
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
  const { FileStore: Storage } = await t.mockImport<typeof import('../lib/store/file-store.js')>('../lib/store/file-store.js', { 'node:fs/promises': fake })
  return { Storage, counts }
}

t.test('a failing write gives DISK_FULL and its file handle is closed, not leaked', async (t) => {
  const made = variants[0]!.made
  const { Storage: MockedStorage, counts } = await storageWithFakeFs(t, {
    stat: async () => ({ size: Number.MAX_SAFE_INTEGER }),
    truncate: async () => {},
    write: async () => { throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) }
  })
  const storage = new MockedStorage(made.meta, t.testdir(), { maxOpenFiles: 2 })
  for (const index of range(made.meta.pieceCount)) {
    const err = await storage.writePiece(index, verifiedPiece(made, index).data).then(() => null, (e: unknown) => e)
    t.ok(isZentorrentError(err, 'DISK_FULL'), `piece ${index}: DISK_FULL`)
  }
  await storage.close()
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(counts.opened > 0)
  t.equal(counts.closed, counts.opened, 'every handle opened was closed')
})

t.test('the piece worker\'s fast path (file open, piece in shared memory): a failing write gives DISK_FULL and closes the handle', async (t) => {
  const made = variants[2]!.made // one file
  let handleWrites = 0
  const { Storage: MockedStorage, counts } = await storageWithFakeFs(t, {
    stat: async () => ({ size: Number.MAX_SAFE_INTEGER }),
    truncate: async () => {},
    write: async () => { handleWrites++; throw new Error('not through fs/promises') },
    fd: 99 as unknown as () => Promise<unknown>
  })
  let failing = false
  const calls: number[] = []
  const worker = {
    write: async (fd: number, data: Buffer) => {
      calls.push(fd)
      if (failing) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
      return data.length
    },
    sha1: () => null
  }
  const storage = new MockedStorage(made.meta, t.testdir(), { worker: worker as unknown as PieceWorker })
  const shared = (index: number): Buffer => {
    const bytes = verifiedPiece(made, index).data
    const out = Buffer.from(new SharedArrayBuffer(bytes.length))
    bytes.copy(out)
    return out
  }
  await storage.writePiece(0, shared(0)) // opens the file
  const second = storage.writePiece(1, shared(1))
  t.same(calls, [99, 99], 'the second piece was handed to the worker at once, with the open file\'s descriptor')
  await second
  t.equal(counts.opened, 1)
  failing = true
  const third = storage.writePiece(2, shared(2))
  t.equal(calls.length, 3, 'at once')
  const err = await third.then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(err, 'DISK_FULL') && err.message.includes(made.meta.name), 'DISK_FULL, naming the file')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(counts.closed, 1, 'the failed handle is closed')
  failing = false
  await storage.writePiece(2, shared(2))
  t.equal(counts.opened, 2, 'the next write opens the file again')
  t.equal(handleWrites, 0, 'nothing written through fs/promises')
  await storage.close()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(counts.closed, counts.opened)
})

t.test('a file that cannot be sized is closed, not leaked', async (t) => {
  const made = variants[0]!.made
  const { Storage: MockedStorage, counts } = await storageWithFakeFs(t, {
    stat: async () => ({ size: 0 }),
    truncate: async () => { throw Object.assign(new Error('EFBIG: file too large'), { code: 'EFBIG' }) }
  })
  const storage = new MockedStorage(made.meta, t.testdir())
  const err = await storage.writePiece(0, verifiedPiece(made, 0).data).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(err, 'IO_ERROR'))
  await storage.close()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(counts.closed, counts.opened, 'the handle opened before sizing failed was closed')
})

t.test('pieces are written in calls of at most writeChunk bytes, short writes resumed, bytes exact', async (t) => {
  t.equal(FILE_STORE_DEFAULTS.writeChunk, 256 * 1024)
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
            fd: real.fd,
            // a disk that writes at most 3/4 of what it is given (rounded down, at least 1 byte)
            write: async (buffer: Buffer, offset: number, length: number, position: number) => {
              sizes.push(length)
              return await real.write(buffer, offset, Math.max(1, Math.floor(length * 3 / 4)), position)
            }
          }
        }
      }
      const { FileStore: MockedStorage } = await t.mockImport<typeof import('../lib/store/file-store.js')>('../lib/store/file-store.js', { 'node:fs/promises': fake })
      const root = t.testdir()
      const random = seededRandom(writeChunk)
      const storage = new MockedStorage(made.meta, root, { writeChunk })
      await storage.open()
      await writeAll(storage, made, shuffled(range(made.meta.pieceCount), random))
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
    const storage = new FileStore(made.meta, root, { worker })
    await storage.open()
    for (const index of shuffled(range(made.meta.pieceCount), random)) {
      const bytes = pieceBytes(made, index)
      const piece = Buffer.from(new SharedArrayBuffer(bytes.length))
      bytes.copy(piece)
      await storage.writePiece(index, piece)
    }
    await storage.close()
    await worker.close()
    t.same(await differingFiles(root, made), [], `${name}: files exact`)
    t.ok(worker.answered >= made.meta.pieceCount, `${name}: written by the worker (${worker.answered} writes)`)
  }
})

// ---- links in the output directory are never followed (an outside review found all four forms escaping) ---------

t.test('a symbolic link where a file goes is refused in every form, nothing is written outside', async (t) => {
  const { symlink, mkdir: mkdirp, lstat } = await import('node:fs/promises')
  const multi = variants[0]!.made
  const single = variants[2]!.made
  const nested = multi.meta.files.findIndex((f) => f.path.length > 2) // name/dir/.../file
  const cases: Array<{ form: string, made: MadeTorrent, link: (root: string, outside: string) => Promise<void> }> = [
    { form: 'a sub-directory', made: multi, link: async (root, outside) => { await mkdirp(join(root, multi.meta.name), { recursive: true }); await symlink(outside, join(root, ...multi.meta.files[nested]!.path.slice(0, 2))) } },
    { form: 'the top-level name', made: multi, link: async (root, outside) => { await symlink(outside, join(root, multi.meta.name)) } },
    { form: 'a file of a multi-file torrent', made: multi, link: async (root, outside) => { await mkdirp(join(root, ...multi.meta.files[nested]!.path.slice(0, -1)), { recursive: true }); await symlink(join(outside, 'victim'), pathOf(root, multi.meta, nested)) } },
    { form: 'a single-file torrent\'s name', made: single, link: async (root, outside) => { await symlink(join(outside, 'victim'), pathOf(root, single.meta, 0)) } }
  ]
  for (const { form, made, link } of cases) {
    const base = t.testdir({ out: {}, outside: { victim: 'precious' } })
    const root = join(base, 'out')
    const outside = join(base, 'outside')
    await link(root, outside)
    const storage = new FileStore(made.meta, root)
    const err = await storage.open().then(async () => { await writeAll(storage, made, range(made.meta.pieceCount)) }).then(() => null, (e: unknown) => e)
    t.ok(isZentorrentError(err, 'PATH_IS_LINK'), `${form}: PATH_IS_LINK (${String(err)})`)
    t.same((await readdir(outside)).sort(), ['victim'], `${form}: nothing created outside`)
    t.equal(await readFile(join(outside, 'victim'), 'utf8'), 'precious', `${form}: the file behind the link is untouched`)
    t.notOk((await storage.present())(0), `${form}: the resume check does not read through the link`)
    await storage.close()

    // with replaceLinks the link is replaced by a real directory or file, and the data lands inside
    const replacing = new FileStore(made.meta, root, { replaceLinks: true })
    await replacing.open()
    await writeAll(replacing, made, range(made.meta.pieceCount))
    await replacing.close()
    t.same(await differingFiles(root, made), [], `${form}, replaceLinks: every file inside, byte for byte`)
    t.equal(await readFile(join(outside, 'victim'), 'utf8'), 'precious', `${form}, replaceLinks: still untouched`)
    t.notOk((await lstat(join(root, made.meta.name))).isSymbolicLink())
  }
})

t.test('a link swapped in after the store opened is refused when the file is opened', async (t) => {
  const { symlink, rename } = await import('node:fs/promises')
  const made = variants[0]!.made
  const nested = made.meta.files.findIndex((f) => f.path.length > 2)
  const base = t.testdir({ out: {}, outside: {} })
  const root = join(base, 'out')
  const storage = new FileStore(made.meta, root)
  await storage.open() // checks pass, directories made
  const dir = join(root, ...made.meta.files[nested]!.path.slice(0, 2))
  await rename(dir, `${dir}.moved`)
  await symlink(join(base, 'outside'), dir)
  const err = await writeAll(storage, made, range(made.meta.pieceCount)).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(err, 'PATH_IS_LINK'), String(err))
  t.same(await readdir(join(base, 'outside')), [], 'nothing written through the link')
  await storage.close()
})

t.test('a link that a check misses (a race) is caught by the opened file\'s real path', async (t) => {
  const { symlink } = await import('node:fs/promises')
  const made = variants[2]!.made
  const base = t.testdir({ out: {}, outside: { victim: 'precious' } })
  const root = join(base, 'out')
  await symlink(join(base, 'outside'), join(root, 'sub'))
  // a file system that hides the link from lstat (what a swap between the check and the open looks like)
  const actual = await import('node:fs/promises')
  const fake = { ...actual, lstat: async (path: string) => await actual.stat(path) }
  const { FileStore: Racy } = await t.mockImport<typeof import('../lib/store/file-store.js')>('../lib/store/file-store.js', { 'node:fs/promises': fake })
  const storage = new Racy({ ...made.meta, files: [{ ...made.meta.files[0]!, path: ['sub', 'victim'] }] }, root)
  await storage.open()
  const err = await storage.writePiece(0, verifiedPiece(made, 0).data).then(() => null, (e: unknown) => e)
  t.ok(isZentorrentError(err, 'PATH_IS_LINK'), String(err))
  t.equal(await readFile(join(base, 'outside', 'victim'), 'utf8'), 'precious', 'untouched')
  await storage.close()
})

/** A piece worker whose writes wait until released (then write for real): for ordering races with store(). */
class GatedWorker {
  readonly held: Array<{ index: number, release: () => void }> = []
  #next = -1
  /** Tag the writes that follow with a piece index (for the test's bookkeeping). */
  tag (index: number): void { this.#next = index }
  write (fd: number, data: Buffer, position: number): Promise<number> {
    const index = this.#next
    return new Promise((resolve) => {
      this.held.push({ index, release: () => { writeSync(fd, data, 0, data.length, position); resolve(data.length) } })
    })
  }

  sha1 (): null { return null }
  release (index: number): void {
    for (const h of this.held.filter((w) => w.index === index)) h.release()
    this.held.splice(0, this.held.length, ...this.held.filter((w) => w.index !== index))
  }
}

async function until (what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((resolve) => setTimeout(resolve, 2))
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

t.test('store(): a write that starts or lands while a file\'s bytes move is neither stranded in the part file nor overwritten', async (t) => {
  const made = makeTorrent(MULTI, { seed: 31 })
  const files = made.meta.files
  const moved = files.findIndex((f) => f.path.join('/') === 'multi/dir/a.bin' || f.path.at(-1) === 'a.bin')
  const inside = Math.ceil(files[moved]!.offset / made.meta.pieceLength) // a piece wholly inside dir/a.bin
  t.ok(inside * made.meta.pieceLength + made.meta.pieceLength <= files[moved]!.offset + files[moved]!.length, 'the piece lies inside the file')
  const elsewhere = made.meta.pieceCount - 1
  const dir = t.testdir()
  for (const order of ['in flight before', 'started during'] as const) {
    const root = join(dir, order.replace(/ /g, '-'))
    const worker = new GatedWorker()
    const selected = new Set(files.map((_, i) => i).filter((i) => i !== moved))
    const store = new FileStore(made.meta, root, { selected, worker: worker as unknown as PieceWorker })
    await store.open()
    const writes: Array<Promise<void>> = []
    worker.tag(elsewhere)
    writes.push(store.writePiece(elsewhere, verifiedPiece(made, elsewhere).data))
    if (order === 'in flight before') {
      worker.tag(inside)
      writes.push(store.writePiece(inside, verifiedPiece(made, inside).data)) // to the part file, not yet marked written
    }
    await until('writes at the worker', () => worker.held.length === writes.length)
    const storing = store.store(moved, () => false) // the ledger has heard of no written piece yet
    if (order === 'started during') {
      worker.tag(inside)
      writes.push(store.writePiece(inside, verifiedPiece(made, inside).data))
    }
    worker.release(inside)
    worker.release(elsewhere)
    await storing
    await until('the last write', () => worker.held.length > 0 || order === 'in flight before')
    worker.release(inside)
    await Promise.all(writes)
    const bytes = await readFile(pathOf(root, made.meta, moved))
    const at = inside * made.meta.pieceLength - files[moved]!.offset
    t.ok(bytes.subarray(at, at + made.meta.pieceLength).equals(verifiedPiece(made, inside).data), `${order}: the piece's bytes are in the file`)
    const read = await store.read(inside, 0, made.meta.pieceLength)
    t.ok(read.equals(verifiedPiece(made, inside).data), `${order}: and read back from it`)
    await store.close()
  }
})
