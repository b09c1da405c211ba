/**
 * FileStore: a torrent's pieces as files under an output directory (a PieceStore). It knows files and offsets,
 * nothing about peers or scheduling.
 *
 * - Paths: every file path is resolved with `resolveInside` (lib/path-safety.ts), so no write can leave the
 *   output directory whatever the torrent says; metainfo has already refused hostile paths.
 * - Links already in the output directory are never followed: a symbolic link as a directory on a file's path, as
 *   the torrent's top-level name or as a file is refused (PATH_IS_LINK), or with `replaceLinks` removed and replaced
 *   by a real directory or file. Checked when the store opens and again when each file is opened: directories are
 *   created one component at a time with `lstat`, files are opened with O_NOFOLLOW, and the opened descriptor's
 *   real path (/proc/self/fd) must lie inside the output directory, so a link swapped in between check and open is
 *   caught too. The resume check looks at sizes with `lstat`, never through a link.
 * - Files are opened lazily with O_CREAT (never O_TRUNC: resume keeps what is there) and written at positions, so
 *   untouched regions stay sparse where the filesystem allows; each file is sized to its length when first opened.
 * - BEP 47 pad files are never created or written; reads of them return zeros.
 * - With a file selection, the bytes of a verified piece that belong to unselected files go to one sparse part
 *   file (`.zentorrent-<infohash>.parts` in the output directory, at their torrent offsets), as libtorrent's part
 *   file does: pieces that straddle a selected and an unselected file can then be re-verified on resume and
 *   served to peers. A file selected later (`store`) gets the bytes the part file holds for it moved in.
 * - Handles are cached (at most `maxOpenFiles`, least recently used closed first; a handle in use is never closed).
 * - Pieces in shared memory are written by the piece worker (lib/piece-worker.ts, passed in by the composition) in
 *   16 KiB calls; anything else through fs/promises, in calls of at most `writeChunk`. The event loop never waits
 *   on the disk.
 */
import { lstat, mkdir, open, readlink, realpath, unlink, rm, type FileHandle } from 'node:fs/promises'
import { constants } from 'node:fs'
import { join, sep } from 'node:path'
import { createFileMap, type FileMap, type FileSpan } from '../file-map.js'
import { resolveInside } from '../path-safety.js'
import { BitField } from '../wire/bitfield.js'
import type { Metainfo } from '../metainfo.js'
import { fromFsError, ZentorrentError } from '../errors.js'
import type { PieceWorker } from '../piece-worker.js'
import type { PieceStore } from './piece-store.js'

export interface FileStoreOptions {
  /** Files (by index) to store; pieces are still verified whole, bytes of other files go to the part file. */
  selected?: ReadonlySet<number>
  maxOpenFiles?: number
  /**
   * Largest single write system call through fs/promises (pieces the piece worker does not write). On this
   * project's machines one 1 MiB pwrite cost about three times the kernel time of four 256 KiB ones (the page
   * cache takes a large folio for a large write; see CHANGELOG).
   */
  writeChunk?: number
  /** Writes pieces in shared memory in small calls on its thread (lib/piece-worker.ts). */
  worker?: PieceWorker
  /** Replace symbolic links found where the torrent's files go, instead of refusing them. */
  replaceLinks?: boolean
}

export const FILE_STORE_DEFAULTS = { maxOpenFiles: 64, writeChunk: 256 * 1024 } as const

/** The handle-cache key of the part file (file indexes are ≥ 0). */
const PART_FILE = -1

interface OpenFile {
  readonly handle: Promise<FileHandle>
  /** The handle's descriptor once it is open (-1 until then): the piece worker's writes need no promise for it. */
  fd: number
  users: number
  lastUsed: number
  /** An operation on it failed: out of the cache, closed by its last user. */
  failed: boolean
}

function closeQuietly (handle: Promise<FileHandle>): void {
  handle.then(async (h) => await h.close(), () => {}).catch(() => {})
}

function errnoOf (err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

export class FileStore implements PieceStore {
  readonly meta: Metainfo
  readonly root: string
  readonly fileMap: FileMap
  readonly #selected: Set<number> | null
  readonly #maxOpenFiles: number
  readonly #writeChunk: number
  readonly #worker: PieceWorker | null
  readonly #replaceLinks: boolean
  readonly #open: Map<number, OpenFile> = new Map()
  /** Resolved paths by file index (see pathOf). */
  readonly #paths: Map<number, string> = new Map()
  /** Writes in flight (a selection change waits for them before moving bytes). */
  readonly #writing: Set<Promise<void>> = new Set()
  /** A file's bytes being moved out of the part file (store()): new writes wait for it. */
  #moving: Promise<void> | null = null
  /** Pieces this store wrote into the part file (store() moves them whether or not the ledger has heard yet that
   * they are written). */
  #inPart: BitField | null = null
  #rootReal: string | null = null
  #clock = 0
  #closed = false

  constructor (meta: Metainfo, root: string, opts: FileStoreOptions = {}) {
    this.meta = meta
    this.root = root
    this.fileMap = createFileMap(meta)
    this.#selected = opts.selected === undefined ? null : new Set(opts.selected)
    this.#maxOpenFiles = opts.maxOpenFiles ?? FILE_STORE_DEFAULTS.maxOpenFiles
    this.#writeChunk = Math.max(1, opts.writeChunk ?? FILE_STORE_DEFAULTS.writeChunk)
    this.#worker = opts.worker ?? null
    this.#replaceLinks = opts.replaceLinks === true
  }

  /** The part file's path, or null when every file is stored (no selection). */
  get partPath (): string | null {
    return this.#selected === null ? null : resolveInside(this.root, [`.zentorrent-${this.meta.infoHashHex}.parts`])
  }

  /** Absolute path of a file, checked to stay inside the output directory. */
  pathOf (fileIndex: number): string {
    // resolved once per file: every read and write names its file's path (for errors), and resolving it each time
    // was ~4 % of the main thread with 16 KiB pieces (bench/profile.ts)
    let path = this.#paths.get(fileIndex)
    if (path === undefined) {
      path = fileIndex === PART_FILE
        ? this.partPath!
        : resolveInside(this.root, this.meta.files[fileIndex]!.path) // [name] or [name, ...path] (metainfo.ts)
      this.#paths.set(fileIndex, path)
    }
    return path
  }

  isStored (fileIndex: number): boolean {
    const file = this.meta.files[fileIndex]!
    return !file.pad && (this.#selected === null || this.#selected.has(fileIndex))
  }

  /** Create the output directory, check every stored file's path for links, create the zero-length files. */
  async open (): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true })
      this.#rootReal = await realpath(this.root)
    } catch (err) {
      throw fromFsError(err, this.root)
    }
    for (let i = 0; i < this.meta.files.length; i++) {
      if (!this.isStored(i)) continue
      await this.#checkPath(i, { create: this.meta.files[i]!.length === 0 })
    }
    if (this.partPath !== null) await this.#checkPath(PART_FILE, { create: false })
  }

  async present (): Promise<(index: number) => boolean> {
    const sizes = new Map<number, number>()
    const sizeOf = async (key: number): Promise<number> => {
      try {
        const info = await lstat(this.pathOf(key))
        return info.isFile() ? info.size : -1
      } catch {
        return -1
      }
    }
    for (let i = 0; i < this.meta.files.length; i++) if (this.isStored(i)) sizes.set(i, await sizeOf(i))
    if (this.partPath !== null) sizes.set(PART_FILE, await sizeOf(PART_FILE))
    return (index) => this.fileMap.spans(index, 0, this.fileMap.pieceSize(index)).every((span) => {
      const target = this.#target(span)
      return target === null || (sizes.get(target.key) ?? -1) >= target.position + span.length
    })
  }

  /** Write a whole verified piece across the files it covers. */
  writePiece (index: number, data: Buffer): Promise<void> {
    const fast = this.#writeByWorker(index, data)
    return fast !== null ? this.#tracked(fast) : this.#writeSlowly(index, data)
  }

  async #writeSlowly (index: number, data: Buffer): Promise<void> {
    while (this.#moving !== null) await this.#moving // a write waiting here is not in flight: store() must not wait for it
    await this.#tracked(this.#writePiece(index, data))
  }

  /** A write in flight, until it settles (store() waits for these). */
  #tracked (job: Promise<void>): Promise<void> {
    this.#writing.add(job)
    const untrack = (): void => { this.#writing.delete(job) }
    job.then(untrack, untrack)
    return job
  }

  /**
   * The common case without a promise per step: every file of the piece open, no move going on, the piece in
   * shared memory. Each span is one job for the piece worker; with 16 KiB pieces the async path's promises and
   * closures were a third of what the main thread allocated (bench/profile.ts, CHANGELOG). Null: take the async
   * path (which opens files, waits for a move, writes through fs/promises).
   */
  #writeByWorker (index: number, data: Buffer): Promise<void> | null {
    const worker = this.#worker
    if (worker === null || this.#moving !== null || this.#closed || !(data.buffer instanceof SharedArrayBuffer)) return null
    const spans = this.fileMap.spans(index, 0, data.length)
    for (const span of spans) {
      const key = this.#keyOf(span)
      if (key === null) continue
      const entry = this.#open.get(key)
      if (entry === undefined || !(entry.fd >= 0) || entry.failed) return null
    }
    const writes: Array<Promise<void>> = []
    for (const span of spans) {
      const target = this.#target(span)
      if (target === null) continue
      const entry = this.#open.get(target.key)!
      const part = data.subarray(span.pieceOffset, span.pieceOffset + span.length)
      const offloaded = worker.write(entry.fd, part, target.position)
      if (offloaded === null) {
        // the worker is gone (it died, or could not start): the first span goes the async way whole, a later
        // one (its predecessors already at the worker) through fs/promises
        if (writes.length === 0) return null
        writes.push(this.#finishSpan(index, target, part, 0))
        continue
      }
      entry.users++
      writes.push(offloaded.then((done) => {
        this.#released(entry)
        if (done < span.length) return this.#finishSpan(index, target, part, done)
        this.#wrote(index, target.key)
      }, (err: unknown) => {
        this.#failed(target.key, entry)
        this.#released(entry)
        throw err instanceof ZentorrentError ? err : fromFsError(err, this.pathOf(target.key))
      }))
    }
    if (writes.length <= 1) return writes[0] ?? Promise.resolve()
    // settled only when every span is: the caller releases the piece's buffer then, and store() stops waiting
    return Promise.allSettled(writes).then((results) => {
      for (const r of results) if (r.status === 'rejected') throw r.reason
    })
  }

  /** The rest of a span the worker did not write (from `done` on), through fs/promises. */
  async #finishSpan (index: number, target: { key: number, position: number }, part: Buffer, done: number): Promise<void> {
    await this.#withFile(target.key, async (handle) => { await this.#writeRest(handle, part, done, target.position) })
    this.#wrote(index, target.key)
  }

  /** A span of piece `index` is on disk in file `key`: the part file's pieces are remembered for store(). */
  #wrote (index: number, key: number): void {
    if (key === PART_FILE) (this.#inPart ??= new BitField(this.meta.pieceCount)).set(index)
  }

  /** After a failed operation: drop the handle from the cache (only if it is still this entry: a retry may have
   * opened a new one); its last user closes it (dropping it without closing leaked a descriptor per failed write). */
  #failed (fileIndex: number, entry: OpenFile): void {
    if (this.#open.get(fileIndex) === entry) this.#open.delete(fileIndex)
    entry.failed = true
  }

  #released (entry: OpenFile): void {
    entry.users--
    entry.lastUsed = ++this.#clock
    if (entry.failed && entry.users === 0) closeQuietly(entry.handle)
  }

  /** Write `part` from `done` on through fs/promises, in calls of at most `writeChunk`; short writes retried. */
  async #writeRest (handle: FileHandle, part: Buffer, done: number, position: number): Promise<void> {
    while (done < part.length) {
      const step = Math.min(this.#writeChunk, part.length - done)
      const { bytesWritten } = await handle.write(part, done, step, position + done)
      if (bytesWritten <= 0) throw new Error('write returned no progress')
      done += bytesWritten // a short write is retried from where it stopped
    }
  }

  async #writePiece (index: number, data: Buffer): Promise<void> {
    for (const span of this.fileMap.spans(index, 0, data.length)) {
      const target = this.#target(span)
      if (target === null) continue
      await this.#withFile(target.key, async (handle) => {
        const part = data.subarray(span.pieceOffset, span.pieceOffset + span.length)
        const offloaded = this.#worker?.write(handle.fd, part, target.position) ?? null
        await this.#writeRest(handle, part, offloaded !== null ? await offloaded : 0, target.position)
      })
      this.#wrote(index, target.key)
    }
  }

  /** Read `length` bytes of a piece from `offset` (pad files read as zeros). */
  async read (index: number, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length)
    for (const span of this.fileMap.spans(index, offset, length)) {
      const target = this.#target(span)
      if (target === null) continue
      await this.#withFile(target.key, async (handle) => {
        let done = 0
        while (done < span.length) {
          const { bytesRead } = await handle.read(out, span.pieceOffset + done, span.length - done, target.position + done)
          if (bytesRead === 0) break // short file: the rest stays zero and will fail a hash check
          done += bytesRead
        }
      })
    }
    return out
  }

  /**
   * Start storing a file that was not selected: bytes of it already verified move from the part file into the
   * file — pieces for which `written` is true (a resumed part file) and pieces this store wrote there. While
   * they move, new writes wait (a write landing in the file before its piece's turn would be overwritten by the
   * move, one still going to the part file would be left there), writes in flight finish first, and reads are
   * served from the part file until every byte is in the file.
   */
  async store (fileIndex: number, written: (index: number) => boolean): Promise<void> {
    if (this.#selected === null || this.meta.files[fileIndex]?.pad !== false) return
    while (this.#moving !== null) await this.#moving
    if (this.isStored(fileIndex)) return
    let moved!: () => void
    this.#moving = new Promise<void>((resolve) => { moved = resolve })
    try {
      await Promise.allSettled([...this.#writing])
      await this.#checkPath(fileIndex, { create: this.meta.files[fileIndex]!.length === 0 })
      const range = this.fileMap.piecesForFile(fileIndex)
      for (let index = range.first; index <= range.last; index++) {
        if (this.#inPart?.get(index) !== true && !written(index)) continue
        for (const span of this.fileMap.spans(index, 0, this.fileMap.pieceSize(index))) {
          if (span.fileIndex !== fileIndex) continue
          const bytes = Buffer.alloc(span.length)
          await this.#withFile(PART_FILE, async (h) => { await h.read(bytes, 0, span.length, span.file.offset + span.fileOffset) })
          await this.#withFile(fileIndex, async (h) => { await h.write(bytes, 0, span.length, span.fileOffset) })
        }
      }
      this.#selected.add(fileIndex)
    } finally {
      this.#moving = null
      moved()
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    await Promise.allSettled([...this.#writing]) // the piece worker may still hold a descriptor's number
    const handles = [...this.#open.values()].map(async (f) => await f.handle.then(async (h) => await h.close(), () => {}))
    this.#open.clear()
    await Promise.all(handles)
  }

  /** Remove the part file (once every piece it served is no longer needed). */
  async removePartFile (): Promise<void> {
    if (this.partPath !== null) await rm(this.partPath, { force: true })
  }

  /**
   * Where a span's bytes live: its file, or the part file for an unselected file; null for pad files (never
   * stored, read as zeros).
   */
  #target (span: FileSpan): { key: number, position: number } | null {
    const key = this.#keyOf(span)
    if (key === null) return null
    return { key, position: key === PART_FILE ? span.file.offset + span.fileOffset : span.fileOffset }
  }

  /** The handle-cache key of the file that holds a span's bytes (#target without the position). */
  #keyOf (span: FileSpan): number | null {
    if (span.file.pad) return null
    return this.isStored(span.fileIndex) ? span.fileIndex : PART_FILE
  }

  /** The path components below the output directory of a file (or of the part file). */
  #components (key: number): readonly string[] {
    return key === PART_FILE ? [`.zentorrent-${this.meta.infoHashHex}.parts`] : this.meta.files[key]!.path
  }

  /**
   * Make every directory on a file's path a real directory (creating the missing ones), never following a link;
   * with `create`, create the file itself (for zero-length files). A link found is refused, or with replaceLinks
   * removed.
   */
  async #checkPath (key: number, opts: { create: boolean }): Promise<void> {
    const components = this.#components(key)
    let dir = this.#rootReal ?? this.root
    for (let i = 0; i < components.length; i++) {
      const path = join(dir, components[i]!)
      const last = i === components.length - 1
      let info: Awaited<ReturnType<typeof lstat>> | null = null
      try {
        info = await lstat(path)
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw fromFsError(err, path)
      }
      if (info?.isSymbolicLink() === true) {
        if (!this.#replaceLinks) {
          throw new ZentorrentError('PATH_IS_LINK', `${path} is a symbolic link; refusing to write through it ` +
            '(remove it, choose another output directory, or pass --replace-links)')
        }
        await unlink(path).catch((err: unknown) => { throw fromFsError(err, path) })
        info = null
      }
      if (!last) {
        if (info === null) {
          await mkdir(path).catch((err: unknown) => { if (errnoOf(err) !== 'EEXIST') throw fromFsError(err, path) })
          const again = await lstat(path).catch((err: unknown) => { throw fromFsError(err, path) })
          if (!again.isDirectory()) throw new ZentorrentError('PATH_IS_LINK', `${path} changed while it was created; refusing to write through it`)
        } else if (!info.isDirectory()) {
          throw new ZentorrentError('IO_ERROR', `${path} is in the way: it is not a directory`)
        }
      } else if (opts.create && info === null) {
        const handle = await this.#openSafely(path, key)
        await handle.close()
      } else if (info !== null && !info.isFile()) {
        throw new ZentorrentError('IO_ERROR', `${path} is in the way: it is not a regular file`)
      }
      dir = path
    }
  }

  /** Open a file for reading and writing without following a link, then make sure it is inside the root. */
  async #openSafely (path: string, key: number): Promise<FileHandle> {
    let handle: FileHandle
    try {
      handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644)
    } catch (err) {
      if (errnoOf(err) === 'ELOOP') {
        throw new ZentorrentError('PATH_IS_LINK', `${path} is a symbolic link; refusing to write through it (pass --replace-links to replace it)`)
      }
      throw err
    }
    const root = this.#rootReal
    if (root !== null) {
      const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => null)
      if (real !== null && !real.startsWith(root + sep)) {
        await handle.close().catch(() => {})
        throw new ZentorrentError('PATH_IS_LINK', `${this.#components(key).join('/')} resolved to ${real}, outside the output directory; refusing to write`)
      }
    }
    return handle
  }

  async #withFile<T> (fileIndex: number, fn: (handle: FileHandle) => Promise<T>): Promise<T> {
    if (this.#closed) throw new ZentorrentError('IO_ERROR', 'the store is closed')
    const path = this.pathOf(fileIndex) // before acquiring: a throw here must not leave the entry's user count raised
    const entry = this.#acquire(fileIndex)
    try {
      return await fn(await entry.handle)
    } catch (err) {
      this.#failed(fileIndex, entry)
      throw err instanceof ZentorrentError ? err : fromFsError(err, path)
    } finally {
      this.#released(entry)
    }
  }

  #acquire (fileIndex: number): OpenFile {
    let entry = this.#open.get(fileIndex)
    if (entry === undefined) {
      this.#evict()
      const opened: OpenFile = { handle: this.#openFile(fileIndex), fd: -1, users: 0, lastUsed: ++this.#clock, failed: false }
      opened.handle.then((h) => { opened.fd = h.fd }, () => {}) // an error is rethrown to the user of the handle
      entry = opened
      this.#open.set(fileIndex, entry)
    }
    entry.users++
    return entry
  }

  async #openFile (fileIndex: number): Promise<FileHandle> {
    if (this.#rootReal === null) await this.open()
    await this.#checkPath(fileIndex, { create: false })
    const handle = await this.#openSafely(this.pathOf(fileIndex), fileIndex)
    if (fileIndex === PART_FILE) return handle // grows where written; holes elsewhere
    try {
      const length = this.meta.files[fileIndex]!.length
      const { size } = await handle.stat()
      if (size < length) await handle.truncate(length) // sparse: the right size from the start, holes until written
    } catch (err) {
      await handle.close().catch(() => {}) // nobody else holds it yet: close it rather than leak it
      throw err
    }
    return handle
  }

  #evict (): void {
    while (this.#open.size >= this.#maxOpenFiles) {
      let victim = -1
      let oldest = Infinity
      for (const [index, entry] of this.#open) {
        if (entry.users === 0 && entry.lastUsed < oldest) { victim = index; oldest = entry.lastUsed }
      }
      if (victim < 0) return // all in use: go over the limit briefly rather than wait
      const entry = this.#open.get(victim)!
      this.#open.delete(victim)
      closeQuietly(entry.handle)
    }
  }
}
