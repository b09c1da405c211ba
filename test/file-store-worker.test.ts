import t from 'tap'
import { Worker } from 'node:worker_threads'
import { FileStore } from '../lib/store/file-store.js'
import { PieceWorker } from '../lib/piece-worker.js'
import { SINGLE } from './helpers/torrent-fixtures.js'
import { differingFiles, makeTorrent, pathOf, pieceBytes } from './helpers/make-torrent.js'

function shared (bytes: Buffer): Buffer {
  const out = Buffer.from(new SharedArrayBuffer(bytes.length))
  bytes.copy(out)
  return out
}

t.test('after the worker thread dies, writes fall back to fs/promises (as #writePiece does)', async (t) => {
  // capture the real thread so we can kill it (as an OOM under resourceLimits or a crash would)
  let thread: Worker | null = null
  const post = Worker.prototype.postMessage
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<typeof post>) { thread = this; return post.apply(this, args) }
  t.teardown(() => { Worker.prototype.postMessage = post })
  const made = makeTorrent(SINGLE, { seed: 7 })
  const worker = new PieceWorker()
  const root = t.testdir()
  const store = new FileStore(made.meta, root, { worker })
  await store.open()
  await store.writePiece(0, shared(pieceBytes(made, 0))) // opens the file, goes through the worker
  t.ok(thread !== null, 'worker thread captured')
  await new Promise<void>((resolve) => { thread!.once('exit', () => resolve()); void thread!.terminate() })
  t.equal(worker.write(1, shared(Buffer.alloc(1)), 0), null, 'the PieceWorker now refuses jobs (contract: caller writes)')
  const results: string[] = []
  for (let i = 1; i < made.meta.pieceCount; i++) {
    try {
      await store.writePiece(i, shared(pieceBytes(made, i)))
      results.push('ok')
    } catch (err) {
      results.push(String((err as Error).message))
    }
  }
  t.same(results, results.map(() => 'ok'), 'every later piece written')
  await store.close()
  t.same(await differingFiles(root, made), [], 'files exact')
})

t.test('multi-span fast path: a failing span must not settle the piece while another span is still at the worker', async (t) => {
  const { MULTI } = await import('./helpers/torrent-fixtures.js')
  const made = makeTorrent(MULTI, { seed: 3 })
  let mode: 'ok' | 'gate' = 'ok'
  const held: Array<() => void> = []
  let calls = 0
  const stub = {
    sha1: () => null,
    write: (fd: number, data: Buffer) => {
      calls++
      if (mode === 'ok') return Promise.resolve(data.length)
      if (calls % 2 === 1) return Promise.reject(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }))
      return new Promise<number>((resolve) => { held.push(() => resolve(data.length)) })
    }
  }
  const store = new FileStore(made.meta, t.testdir(), { worker: stub as unknown as PieceWorker })
  await store.open()
  await store.writePiece(0, shared(pieceBytes(made, 0))) // opens readme.txt and dir/a.bin
  mode = 'gate'; calls = 0
  let settled = false
  const p = store.writePiece(0, shared(pieceBytes(made, 0))).then(() => { settled = true }, () => { settled = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(calls, 2, 'both spans went to the worker (fast path)')
  t.equal(held.length, 1, 'the second span is still being written from the piece buffer')
  t.notOk(settled, 'writePiece must not settle (the sink would release the buffer, store() would stop waiting)')
  for (const h of held) h()
  await p
  await store.close()
})

t.test('a short write by the worker into the part file is finished and recorded: store() moves that piece', async (t) => {
  const { MULTI } = await import('./helpers/torrent-fixtures.js')
  const { readFile } = await import('node:fs/promises')
  const { writeSync } = await import('node:fs')
  const made = makeTorrent(MULTI, { seed: 5 })
  const files = made.meta.files
  const moved = files.findIndex((f) => f.path.at(-1) === 'a.bin')
  const inside = Math.ceil(files[moved]!.offset / made.meta.pieceLength) // a piece wholly inside a.bin
  let short = false
  const stub = {
    sha1: () => null,
    write: async (fd: number, data: Buffer, position: number) => {
      if (short) return 0 // wrote nothing: the store must finish the span itself
      writeSync(fd, data, 0, data.length, position)
      return data.length
    }
  }
  const selected = new Set(files.map((_, i) => i).filter((i) => i !== moved))
  const root = t.testdir()
  const store = new FileStore(made.meta, root, { selected, worker: stub as unknown as PieceWorker })
  await store.open()
  await store.writePiece(inside - 1, shared(pieceBytes(made, inside - 1))) // opens the part file
  short = true
  await store.writePiece(inside, shared(pieceBytes(made, inside))) // the fast path, short
  await store.store(moved, () => false) // the ledger has heard of no written piece
  const bytes = await readFile(pathOf(root, made.meta, moved))
  const at = inside * made.meta.pieceLength - files[moved]!.offset
  t.ok(bytes.subarray(at, at + made.meta.pieceLength).equals(pieceBytes(made, inside)), 'the piece moved into the file')
  await store.close()
})

t.test('close() waits for writes at the worker before it closes their descriptors', async (t) => {
  const made = makeTorrent(SINGLE, { seed: 9 })
  const held: Array<() => void> = []
  let gate = false
  const stub = {
    sha1: () => null,
    write: async (_fd: number, data: Buffer) => {
      if (gate) await new Promise<void>((resolve) => held.push(resolve))
      return data.length
    }
  }
  const store = new FileStore(made.meta, t.testdir(), { worker: stub as unknown as PieceWorker })
  await store.open()
  await store.writePiece(0, shared(pieceBytes(made, 0)))
  gate = true
  const writing = store.writePiece(1, shared(pieceBytes(made, 1)))
  let closed = false
  const closing = store.close().then(() => { closed = true })
  for (let k = 0; k < 5; k++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(held.length, 1, 'the write is at the worker')
  t.notOk(closed, 'not closed under it')
  held.shift()!()
  await writing
  await closing
  t.ok(closed)
})
