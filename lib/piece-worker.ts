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
 * per MiB cost more than they save. Here the pieces of a loop turn reach a worker in one message; it issues the
 * small writes synchronously (it has nothing else to do) and answers the batch together (in parts of ANSWER_BYTES
 * of work, for large pieces); the event loop never waits on the disk.
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
import { oncePerTurn } from './clock.js'

/**
 * The worker answers a batch's jobs together, but once it has done this many bytes of them it answers those at once:
 * a batch of large pieces does not hold the first piece's answer until the last is written.
 */
const ANSWER_BYTES = 256 * 1024

/** Worker source, plain JavaScript: no module resolution, no TypeScript loader needed in the worker. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const { createHash } = require('node:crypto')
function run (job) {
  if (job.op === 'sha1') {
    const digest = createHash('sha1').update(new Uint8Array(job.memory, job.offset, job.length)).digest()
    return { id: job.id, done: job.length, digest }
  }
  let done = 0
  try {
    while (done < job.length) {
      const step = Math.min(job.chunk, job.length - done)
      const n = writeSync(job.fd, new Uint8Array(job.memory, job.offset + done, step), 0, step, job.position + done)
      if (n <= 0) throw Object.assign(new Error('write returned no progress'), { code: 'EIO' })
      done += n
    }
    return { id: job.id, done }
  } catch (err) {
    return { id: job.id, done, error: { message: String(err && err.message), code: err && err.code } }
  }
}
parentPort.on('message', (jobs) => {
  let replies = []
  let bytes = 0
  for (const job of jobs) {
    replies.push(run(job))
    bytes += job.length
    if (bytes >= ${ANSWER_BYTES}) {
      parentPort.postMessage(replies)
      replies = []
      bytes = 0
    }
  }
  if (replies.length > 0) parentPort.postMessage(replies)
})
`

/** Writes of one block each, as libtorrent issues them (see above). */
export const PIECE_WORKER_DEFAULTS = { chunk: BLOCK_LENGTH } as const

interface Reply { id: number, done: number, digest?: Uint8Array, error?: { message: string, code?: string } }
interface WorkerJob {
  readonly op: 'sha1' | 'write'
  readonly id: number
  readonly memory: SharedArrayBuffer
  readonly offset: number
  readonly length: number
  /** For writes (-1 and 0 for hashes: one shape for every job). */
  readonly fd: number
  readonly position: number
  readonly chunk: number
}
/** Settles a job's promise from the worker's answer. */
type Job = (reply: Reply) => void

export class PieceWorker {
  #worker: Worker | null = null
  #failed = false
  #nextId = 0
  readonly #jobs: Map<number, Job> = new Map()
  readonly #chunk: number
  /** Jobs of this loop turn, not yet sent: they leave together, in one message, once the turn's callbacks ran. */
  #queued: WorkerJob[] = []
  readonly #send = oncePerTurn(() => this.#flush())
  /** Jobs the worker has answered (for tests and benchmarks). */
  answered = 0
  /** Messages posted to the worker, each a turn's jobs, and messages it answered with (for tests and benchmarks). */
  messages = 0
  answers = 0

  constructor (opts: { chunk?: number } = {}) {
    this.#chunk = Math.max(1, opts.chunk ?? PIECE_WORKER_DEFAULTS.chunk)
  }

  /** SHA1 of `data`, computed on the worker. Null: `data` is not in shared memory, or there is no worker. */
  sha1 (data: Buffer): Promise<Buffer> | null {
    return this.#post(data, 'sha1', -1, 0, (r) => {
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
    return this.#post(data, 'write', fd, position, (r) => {
      if (r.error === undefined) return r.done
      throw Object.assign(new Error(r.error.message), r.error.code !== undefined ? { code: r.error.code } : {})
    })
  }

  /** Queue a job for this turn's message; `settle` turns its answer into the promise's value (or throws). */
  #post<T> (data: Buffer, op: WorkerJob['op'], fd: number, position: number, settle: (reply: Reply) => T): Promise<T> | null {
    const memory = data.buffer
    if (this.#failed || !(memory instanceof SharedArrayBuffer)) return null
    const worker = this.#start()
    if (worker === null) return null
    const id = this.#nextId++
    const job: WorkerJob = { op, id, memory, offset: data.byteOffset, length: data.length, fd, position, chunk: this.#chunk }
    return new Promise<T>((resolve, reject) => {
      this.#jobs.set(id, (reply) => {
        try {
          resolve(settle(reply))
        } catch (err) {
          reject(err)
        }
      })
      if (this.#jobs.size === 1) worker.ref()
      this.#queued.push(job)
      this.#send.soon()
    })
  }

  /**
   * Why a turn's jobs go together: with 16 KiB pieces a GiB is 65,536 hashes and as many writes, and a message to
   * the worker and its answer cost the main thread about as much as the work they move off it. The jobs of one
   * turn leave after the turn's socket reads have run, which delays a job by less than a turn.
   */
  #flush (): void {
    const jobs = this.#queued
    if (jobs.length === 0 || this.#worker === null) return
    this.#queued = []
    this.messages++
    this.#worker.postMessage(jobs)
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
      worker.on('message', (replies: Reply[]) => {
        this.answers++
        for (const reply of replies) {
          const job = this.#jobs.get(reply.id)
          if (job === undefined) continue
          this.#jobs.delete(reply.id)
          this.answered++
          job(reply)
        }
        if (this.#jobs.size === 0) worker.unref()
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
    this.#queued = []
    this.#send.cancel()
    for (const job of jobs) job({ id: -1, done: 0, error: { message: 'piece worker thread stopped', code: 'EIO' } })
  }
}
