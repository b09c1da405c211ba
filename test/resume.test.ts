import t from 'tap'
import { createHash } from 'node:crypto'
import { open, readdir, readFile, rm, truncate } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { checkExisting, type CheckProgress } from '../lib/resume.js'
import { FileStore } from '../lib/store/file-store.js'
import { createLedger } from '../lib/ledger.js'
import { pieceHash } from '../lib/metainfo.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { MULTI, SINGLE } from './helpers/torrent-fixtures.js'
import { makeTorrent, pathOf, pieceBytes, shuffled, verifiedPiece, type MadeTorrent } from './helpers/make-torrent.js'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

async function writePieces (made: MadeTorrent, root: string, indexes: readonly number[]): Promise<void> {
  const storage = new FileStore(made.meta, root)
  await storage.open()
  for (const index of indexes) await storage.writePiece(index, verifiedPiece(made, index).data)
  await storage.close()
}

/** Brute-force reference: read every file whole and hash each piece from what is on disk (pads as zeros). */
async function validOnDisk (made: MadeTorrent, root: string): Promise<number[]> {
  const files = await Promise.all(made.meta.files.map(async (file, i) => file.pad
    ? Buffer.alloc(file.length)
    : await readFile(pathOf(root, made.meta, i)).catch(() => null)))
  const valid: number[] = []
  for (let index = 0; index < made.meta.pieceCount; index++) {
    const start = index * made.meta.pieceLength
    const end = Math.min(start + made.meta.pieceLength, made.meta.length)
    const parts: Buffer[] = []
    let complete = true
    made.meta.files.forEach((file, i) => {
      const from = Math.max(start, file.offset)
      const to = Math.min(end, file.offset + file.length)
      if (from >= to) return
      const bytes = files[i]
      if (bytes === null || bytes === undefined || bytes.length < to - file.offset) { complete = false; return }
      parts.push(bytes.subarray(from - file.offset, to - file.offset))
    })
    if (complete && createHash('sha1').update(Buffer.concat(parts)).digest().equals(pieceHash(made.meta, index))) valid.push(index)
  }
  return valid
}

async function check (made: MadeTorrent, root: string, opts: Parameters<typeof checkExisting>[3] & { wanted?: (index: number) => boolean } = {}): Promise<number[]> {
  const storage = new FileStore(made.meta, root)
  const ledger = createLedger(made.meta)
  for (let i = 0; i < made.meta.pieceCount; i++) if (opts.wanted !== undefined && !opts.wanted(i)) ledger.setPriority(i, i, 0)
  try {
    const valid = await checkExisting(storage, ledger, made.meta, opts)
    const written = range(made.meta.pieceCount).filter((i) => ledger.written(i))
    if (written.join() !== valid.join()) throw new Error(`the ledger says ${written.join()} are written, the check ${valid.join()}`)
    return valid
  } finally {
    await storage.close()
  }
}

const variants = [
  { name: 'multi-file', made: makeTorrent(MULTI, { seed: 30 }) },
  { name: 'multi-file with pad files', made: makeTorrent(MULTI, { seed: 31, pad: true }) },
  { name: 'single file', made: makeTorrent(SINGLE, { seed: 32 }) }
]

for (const { name, made } of variants) {
  const all = range(made.meta.pieceCount)

  t.test(`${name}: a complete directory → every piece`, async (t) => {
    const root = t.testdir()
    await writePieces(made, root, all)
    const progress: CheckProgress[] = []
    t.same(await check(made, root, { onProgress: (p) => progress.push({ ...p }) }), all)
    t.same(progress.at(-1), { checked: all.length, total: all.length, valid: all.length })
    t.same(await check(made, root, { wanted: (i) => i % 2 === 0 }), all.filter((i) => i % 2 === 0), 'only wanted pieces are checked')
    const controller = new AbortController()
    controller.abort()
    t.same(await check(made, root, { signal: controller.signal }), [], 'aborted before the first piece')
  })

  t.test(`${name}: an empty or missing directory → none, and no file is created`, async (t) => {
    const root = t.testdir()
    t.same(await check(made, root), [])
    t.same(await readdir(root), [], 'nothing created')
    const missing = `${root}/not-there`
    t.same(await check(made, missing), [])
    t.notOk(existsSync(missing))
    // what the session does first: directories and zero-length files, still no piece
    const storage = new FileStore(made.meta, root)
    await storage.open()
    t.same(await checkExisting(storage, createLedger(made.meta), made.meta), [])
    await storage.close()
  })

  t.test(`${name}: files sized sparse but never written hold no valid piece`, async (t) => {
    const root = t.testdir()
    await writePieces(made, root, [made.meta.pieceCount - 1]) // opens (and sizes) only the files of the last piece
    t.same(await check(made, root), await validOnDisk(made, root))
    t.same(await check(made, root), [made.meta.pieceCount - 1])
  })
}

for (const { name, made } of variants.slice(0, 2)) {
  t.test(`${name}: a partial directory → exactly the valid pieces: some written, one corrupted, one file missing, one short`, async (t) => {
    const random = seededRandom(33)
    const root = t.testdir()
    const meta = made.meta
    const missing = meta.files.findIndex((f) => f.path.at(-1) === 'b.bin')
    const short = meta.files.findIndex((f) => f.path.at(-1) === 'a.bin')
    const touches = (fileIndex: number, index: number, from = 0): boolean => {
      const f = meta.files[fileIndex]!
      const start = index * meta.pieceLength
      const end = Math.min(start + meta.pieceLength, meta.length)
      return Math.max(start, f.offset + from) < Math.min(end, f.offset + f.length)
    }
    // about two thirds of the pieces, always including those of the files about to be deleted or cut
    const written = range(meta.pieceCount).filter((i) => touches(missing, i) || touches(short, i) || random() < 0.6)
    t.ok(written.length < meta.pieceCount, 'some pieces never written')
    await writePieces(made, root, shuffled(written, random))

    // corrupt one byte of a written piece (inside a stored file)
    const corrupted = written.find((index) => {
      const at = index * meta.pieceLength
      return meta.files.some((f) => !f.pad && f.offset <= at && at < f.offset + f.length)
    })!
    const at = corrupted * meta.pieceLength
    const holder = meta.files.findIndex((f) => !f.pad && f.offset <= at && at < f.offset + f.length)
    const handle = await open(pathOf(root, meta, holder), 'r+')
    await handle.write(Buffer.from([pieceBytes(made, corrupted)[0]! ^ 0xff]), 0, 1, at - meta.files[holder]!.offset)
    await handle.close()

    // delete one file, cut another short
    await rm(pathOf(root, meta, missing))
    await truncate(pathOf(root, meta, short), 40000)

    const expected = await validOnDisk(made, root)
    const found = await check(made, root)
    t.same(found, expected, `the brute-force reference agrees`)
    t.notOk(found.includes(corrupted), `the corrupted piece ${corrupted} is not valid`)
    for (const index of found) {
      t.ok(written.includes(index), `piece ${index} was written`)
      t.notOk(touches(missing, index), `piece ${index} does not need the missing file`)
      t.notOk(touches(short, index, 40000), `piece ${index} does not need the cut part of the short file`)
    }
    const untouched = written.filter((i) => i !== corrupted && !touches(missing, i) && !touches(short, i, 40000))
    t.same(found, untouched.sort((a, b) => a - b), `and every other written piece is`)
    t.ok(untouched.length > 0, `the scenario keeps some valid pieces`)
    t.notOk(existsSync(pathOf(root, meta, missing)), `the missing file is not re-created by the check`)
  })
}
