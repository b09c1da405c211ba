/**
 * Storage: the torrent's bytes on disk, behind a small interface (anacrolix's seam): write a verified piece, read a
 * block, say which files already exist. It knows files and offsets, nothing about peers or scheduling.
 *
 * - Paths: every file path is resolved with `resolveInside` (lib/path-safety.ts), so no write can leave the
 *   output directory whatever the torrent says; metainfo has already refused hostile paths.
 * - Files are opened lazily with O_CREAT (never O_TRUNC: resume keeps what is there) and written at positions, so
 *   untouched regions stay sparse where the filesystem allows; each file is sized to its length when first opened.
 * - BEP 47 pad files are never created or written; reads of them return zeros.
 * - With a file selection, the bytes of a verified piece that belong to unselected files go to one sparse part
 *   file (`.zentorrent-<infohash>.parts` in the output directory, at their torrent offsets), as libtorrent's part
 *   file does: pieces that straddle a selected and an unselected file can then be re-verified on resume and
 *   served to peers, instead of being downloaded again every run.
 * - Handles are cached (at most `maxOpenFiles`, least recently used closed first; a handle in use is never closed).
 * - Pieces in shared memory (the verifier's) are written by the piece worker (lib/piece-worker.ts) in 16 KiB calls;
 *   anything else through fs/promises, on libuv's thread pool. Either way the event loop never waits on the disk.
 */
import { open, stat, type FileHandle } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname } from 'node:path'
import fse from 'fs-extra'
import { createFileMap, type FileMap, type FileSpan } from './file-map.js'
import { resolveInside } from './path-safety.js'
import type { Metainfo } from './metainfo.js'
import { fromFsError } from './errors.js'
import { sharedPieceWorker, type PieceWorker } from './piece-worker.js'

export interface StorageOptions {
  /** Files (by index) to store; pieces are still verified whole, bytes of other files are dropped. */
  selected?: ReadonlySet<number>
  maxOpenFiles?: number
  /**
   * Largest single write system call through fs/promises (pieces the piece worker does not write), in bytes. A
   * piece is written in calls of at most this size: on this
   * project's machines one 1 MiB pwrite cost about three times the kernel time of four 256 KiB ones (the page cache
   * takes a large folio for a large write, and large folios came from memory the hypervisor had to fault in; see
   * CHANGELOG). libtorrent writes 16 KiB blocks; 256 KiB keeps the call count low (4 per MiB).
   */
  writeChunk?: number
  /**
   * Where pieces in shared memory are written (lib/piece-worker.ts: a worker thread, in small calls); default the
   * process's worker, null to write everything through fs/promises here.
   */
  pieceWorker?: PieceWorker | null
}

export const STORAGE_DEFAULTS = { maxOpenFiles: 64, writeChunk: 256 * 1024 } as const

/** The handle-cache key of the part file (file indexes are ≥ 0). */
const PART_FILE = -1

interface OpenFile {
  readonly handle: Promise<FileHandle>
  users: number
  lastUsed: number
  /** An operation on it failed: out of the cache, closed by its last user. */
  failed: boolean
}

function closeQuietly (handle: Promise<FileHandle>): void {
  handle.then(async (h) => await h.close(), () => {}).catch(() => {})
}


/** The first `length` bytes from `offset` of consecutive buffers, as views (no copy). */
export function sliceBuffers (buffers: readonly Buffer[], offset: number, length: number): Buffer[] {
  const out: Buffer[] = []
  let skip = offset
  let left = length
  for (const buffer of buffers) {
    if (left === 0) break
    if (skip >= buffer.length) { skip -= buffer.length; continue }
    const take = Math.min(buffer.length - skip, left)
    out.push(buffer.subarray(skip, skip + take))
    left -= take
    skip = 0
  }
  return out
}

export class Storage {
  readonly meta: Metainfo
  readonly root: string
  readonly fileMap: FileMap
  readonly #selected: ReadonlySet<number> | null
  readonly #maxOpenFiles: number
  readonly #writeChunk: number
  readonly #pieceWorker: PieceWorker | null
  readonly #open: Map<number, OpenFile> = new Map()
  #clock = 0
  #closed = false

  constructor (meta: Metainfo, root: string, opts: StorageOptions = {}) {
    this.meta = meta
    this.root = root
    this.fileMap = createFileMap(meta)
    this.#selected = opts.selected ?? null
    this.#maxOpenFiles = opts.maxOpenFiles ?? STORAGE_DEFAULTS.maxOpenFiles
    this.#writeChunk = Math.max(1, opts.writeChunk ?? STORAGE_DEFAULTS.writeChunk)
    this.#pieceWorker = opts.pieceWorker === undefined ? sharedPieceWorker() : opts.pieceWorker
  }

  /** The part file's path, or null when every file is stored (no selection). */
  get partPath (): string | null {
    return this.#selected === null ? null : resolveInside(this.root, [`.zentorrent-${this.meta.infoHashHex}.parts`])
  }

  /** Absolute path of a file, checked to stay inside the output directory. */
  pathOf (fileIndex: number): string {
    if (fileIndex === PART_FILE) return this.partPath!
    const file = this.meta.files[fileIndex]!
    return resolveInside(this.root, file.path) // [name] or [name, ...path] (metainfo.ts)
  }

  isStored (fileIndex: number): boolean {
    const file = this.meta.files[fileIndex]!
    return !file.pad && (this.#selected === null || this.#selected.has(fileIndex))
  }

  /** Create the directories and the zero-length files (they receive no piece, so nothing else would). */
  async prepare (): Promise<void> {
    const meta = this.meta
    for (let i = 0; i < meta.files.length; i++) {
      const file = meta.files[i]!
      if (!this.isStored(i)) continue
      const path = this.pathOf(i)
      try {
        await fse.ensureDir(dirname(path))
        if (file.length === 0) await fse.ensureFile(path)
      } catch (err) {
        throw fromFsError(err, path)
      }
    }
  }

  /** For each stored file: its size on disk now, or -1 if it does not exist. */
  async existingSizes (): Promise<number[]> {
    const sizes: number[] = []
    for (let i = 0; i < this.meta.files.length; i++) {
      if (!this.isStored(i)) { sizes.push(-1); continue }
      try {
        sizes.push((await stat(this.pathOf(i))).size)
      } catch {
        sizes.push(-1)
      }
    }
    return sizes
  }

  /** Write a whole verified piece (its bytes as consecutive buffers) across the files it covers. */
  async writePiece (index: number, buffers: readonly Buffer[], length: number): Promise<void> {
    for (const span of this.fileMap.spans(index, 0, length)) {
      const target = this.#target(span)
      if (target === null) continue
      await this.#withFile(target.key, async (handle) => {
        let done = 0
        const parts = sliceBuffers(buffers, span.pieceOffset, span.length)
        const offloaded = parts.length === 1 ? this.#pieceWorker?.write(handle.fd, parts[0]!, target.position) ?? null : null
        if (offloaded !== null) done = await offloaded
        while (done < span.length) {
          const step = Math.min(this.#writeChunk, span.length - done)
          const { bytesWritten } = await handle.writev(sliceBuffers(buffers, span.pieceOffset + done, step), target.position + done)
          if (bytesWritten <= 0) throw new Error('write returned no progress')
          done += bytesWritten // a short write is retried from where it stopped
        }
      })
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

  async close (): Promise<void> {
    this.#closed = true
    const handles = [...this.#open.values()].map(async (f) => await f.handle.then(async (h) => await h.close(), () => {}))
    this.#open.clear()
    await Promise.all(handles)
  }

  /**
   * Where a span's bytes live: its file, or the part file for an unselected file; null for pad files (never
   * stored, read as zeros).
   */
  #target (span: FileSpan): { key: number, position: number } | null {
    if (span.file.pad) return null
    if (this.isStored(span.fileIndex)) return { key: span.fileIndex, position: span.fileOffset }
    return { key: PART_FILE, position: span.file.offset + span.fileOffset }
  }

  /**
   * Which spans are already on disk in full, judged by the sizes files had before this run opened them (so a
   * fresh, sparse file never counts): what the resume check may read back and hash.
   */
  async presentSpans (): Promise<(span: FileSpan) => boolean> {
    const sizes = await this.existingSizes()
    let partSize = -1
    if (this.partPath !== null) {
      try { partSize = (await stat(this.partPath)).size } catch { partSize = -1 }
    }
    return (span) => {
      const target = this.#target(span)
      if (target === null) return true
      const size = target.key === PART_FILE ? partSize : sizes[target.key]!
      return size >= target.position + span.length
    }
  }

  async #withFile<T> (fileIndex: number, fn: (handle: FileHandle) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('storage is closed')
    const path = this.pathOf(fileIndex) // before acquiring: a throw here must not leave the entry's user count raised
    const entry = this.#acquire(fileIndex)
    try {
      return await fn(await entry.handle)
    } catch (err) {
      // Drop the handle from the cache (only if it is still this entry: a retry may have opened a new one) and
      // close it once its last user is done; dropping it without closing leaked a descriptor per failed write.
      if (this.#open.get(fileIndex) === entry) this.#open.delete(fileIndex)
      entry.failed = true
      throw fromFsError(err, path)
    } finally {
      entry.users--
      entry.lastUsed = ++this.#clock
      if (entry.failed && entry.users === 0) closeQuietly(entry.handle)
    }
  }

  #acquire (fileIndex: number): OpenFile {
    let entry = this.#open.get(fileIndex)
    if (entry === undefined) {
      this.#evict()
      entry = { handle: this.#openFile(fileIndex), users: 0, lastUsed: ++this.#clock, failed: false }
      entry.handle.catch(() => {}) // the error is rethrown to the user of the handle
      this.#open.set(fileIndex, entry)
    }
    entry.users++
    return entry
  }

  async #openFile (fileIndex: number): Promise<FileHandle> {
    const path = this.pathOf(fileIndex)
    await fse.ensureDir(dirname(path))
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644)
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
