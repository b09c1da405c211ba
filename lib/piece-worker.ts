/**
 * Piece hashing and piece writes on a worker thread, the writes in small system calls (libtorrent's hashing and disk
 * threads, in small). One thread for both: each costs ~9 MiB of resident memory (a V8 isolate), and the memory
 * target (bench/download.ts: ≤ 100 MiB) has room for one.
 *
 * Hashing: SHA1 of a 1 MiB piece is ≈0.5 ms of the main thread, in which no socket is read and no request goes out;
 * here it runs beside the network work (the verifier sends pieces of 128 KiB or more).
 *
 * Writes: *
 * Why: on this project's machines the kernel's cost of a buffered write grew with the size of each call (the page
 * cache allocates a folio as large as the write, and large folios came from memory the hypervisor had to fault in):
 * 16 KiB pwrites, as libtorrent issues, cost a fraction of the kernel time of 256 KiB or 1 MiB ones. But through
 * fs/promises every call is a round trip through libuv's thread pool and a promise on the main thread, so 64 calls
 * per MiB cost more than they save. Here one message per piece reaches a worker, which issues the small writes
 * synchronously (it has nothing else to do) and answers once; the event loop never waits on the disk.
 *
 * Zero copy: the data must live in a SharedArrayBuffer (the verifier's pool allocates piece buffers there); other
 * buffers are refused (`write` and `sha1` return null) and the caller does the work itself. The caller must not
 * change the bytes, and keeps the file open, until the promise settles. The worker is `unref`'d while idle, so it
 * never keeps the process alive; if it dies, pending writes fail with EIO and later work stays on the caller.
 *
 * Ownership: the composition (lib/torrent.ts, or a script) creates one and passes it to the verifier (hashing) and
 * the file store (writes), and closes it; two torrents share a worker only when their composition says so.
 */
import { Worker } from 'node:worker_threads'
import { BLOCK_LENGTH } from './geometry.js'

/** Worker source, plain JavaScript: no module resolution, no TypeScript loader needed in the worker. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const { createHash } = require('node:crypto')
parentPort.on('message', (job) => {
  if (job.op === 'sha1') {
    const digest = createHash('sha1').update(new Uint8Array(job.memory, job.offset, job.length)).digest()
    parentPort.postMessage({ id: job.id, done: job.length, digest })
    return
  }
  let done = 0
  try {
    while (done < job.length) {
      const step = Math.min(job.chunk, job.length - done)
      const n = writeSync(job.fd, new Uint8Array(job.memory, job.offset + done, step), 0, step, job.position + done)
      if (n <= 0) throw Object.assign(new Error('write returned no progress'), { code: 'EIO' })
      done += n
    }
    parentPort.postMessage({ id: job.id, done })
  } catch (err) {
    parentPort.postMessage({ id: job.id, done, error: { message: String(err && err.message), code: err && err.code } })
  }
})
`

/** Writes of one block each, as libtorrent issues them (see above). */
export const PIECE_WORKER_DEFAULTS = { chunk: BLOCK_LENGTH } as const

interface Reply { id: number, done: number, digest?: Uint8Array, error?: { message: string, code?: string } }
interface Job { readonly resolve: (reply: Reply) => void }

export class PieceWorker {
  #worker: Worker | null = null
  #failed = false
  #nextId = 0
  readonly #jobs: Map<number, Job> = new Map()
  readonly #chunk: number
  /** Jobs the worker has answered (for tests and benchmarks). */
  answered = 0

  constructor (opts: { chunk?: number } = {}) {
    this.#chunk = Math.max(1, opts.chunk ?? PIECE_WORKER_DEFAULTS.chunk)
  }

  /** SHA1 of `data`, computed on the worker. Null: `data` is not in shared memory, or there is no worker. */
  sha1 (data: Buffer): Promise<Buffer> | null {
    const reply = this.#post(data, { op: 'sha1' })
    return reply === null
      ? null
      : reply.then((r) => {
        if (r.error !== undefined || r.digest === undefined) throw new Error(r.error?.message ?? 'no digest')
        return Buffer.from(r.digest.buffer, r.digest.byteOffset, r.digest.byteLength)
      })
  }

  /**
   * Write all of `data` to `fd` at `position`, in calls of at most `chunk` bytes. Resolves to the bytes written;
   * rejects with an Error carrying the system error code. Null: `data` is not in shared memory, or there is no
   * worker: the caller writes it.
   */
  write (fd: number, data: Buffer, position: number): Promise<number> | null {
    const reply = this.#post(data, { op: 'write', fd, position, chunk: this.#chunk })
    return reply === null
      ? null
      : reply.then((r) => {
        if (r.error === undefined) return r.done
        throw Object.assign(new Error(r.error.message), r.error.code !== undefined ? { code: r.error.code } : {})
      })
  }

  #post (data: Buffer, job: Record<string, unknown>): Promise<Reply> | null {
    if (this.#failed || !(data.buffer instanceof SharedArrayBuffer)) return null
    const worker = this.#start()
    if (worker === null) return null
    const id = this.#nextId++
    return new Promise<Reply>((resolve) => {
      this.#jobs.set(id, { resolve })
      if (this.#jobs.size === 1) worker.ref()
      worker.postMessage({ ...job, id, memory: data.buffer, offset: data.byteOffset, length: data.length })
    })
  }

  /** Whether the thread is running (started by `warm` or by the first job, not yet closed or failed). */
  get started (): boolean { return this.#worker !== null }

  /**
   * Start the thread now, so the first piece does not wait for it to boot (~20–30 ms, a V8 isolate and Node's
   * bootstrap, on the other core while the connections are set up). Idle, it does not keep the process alive.
   */
  warm (): void {
    if (!this.#failed) this.#start()
  }

  async close (): Promise<void> {
    const worker = this.#worker
    this.#worker = null
    if (worker !== null) {
      worker.removeAllListeners()
      this.#failAll()
      await worker.terminate()
    }
  }

  #start (): Worker | null {
    if (this.#worker !== null) return this.#worker
    try {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 }
      })
      worker.unref()
      worker.on('message', (reply: Reply) => {
        const job = this.#jobs.get(reply.id)
        if (job === undefined) return
        this.#jobs.delete(reply.id)
        this.answered++
        if (this.#jobs.size === 0) worker.unref()
        job.resolve(reply)
      })
      const fail = (): void => {
        this.#failed = true
        this.#worker = null
        this.#failAll()
      }
      worker.on('error', fail)
      worker.on('exit', fail)
      this.#worker = worker
      return worker
    } catch {
      this.#failed = true
      return null
    }
  }

  /** The worker is gone: pending jobs fail with EIO (the sink reports it; nothing is half-claimed as written). */
  #failAll (): void {
    const jobs = [...this.#jobs.values()]
    this.#jobs.clear()
    for (const job of jobs) job.resolve({ id: -1, done: 0, error: { message: 'piece worker thread stopped', code: 'EIO' } })
  }
}
