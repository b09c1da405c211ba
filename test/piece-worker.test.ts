import t from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PieceWorker, PIECE_WORKER_DEFAULTS } from '../lib/piece-worker.js'
import { seededBytes } from './helpers/create-fixtures.js'

function shared (bytes: Buffer): Buffer {
  const out = Buffer.from(new SharedArrayBuffer(bytes.length))
  bytes.copy(out)
  return out
}

t.test('defaults', async (t) => {
  t.equal(PIECE_WORKER_DEFAULTS.chunk, 16 * 1024)
})

t.test('write: the bytes land at the position, in calls of at most `chunk` bytes; sha1 matches', async (t) => {
  const worker = new PieceWorker({ chunk: 4096 })
  t.teardown(async () => { await worker.close() })
  const path = join(t.testdir(), 'f')
  writeFileSync(path, Buffer.alloc(300_000, 1))
  const fd = openSync(path, 'r+')
  t.teardown(() => closeSync(fd))
  const bytes = seededBytes(100_003, 1)
  const data = shared(bytes).subarray(3) // a view at an offset into shared memory
  t.equal(await worker.write(fd, data, 5000), 100_000)
  const file = readFileSync(path)
  t.ok(file.subarray(5000, 105_000).equals(bytes.subarray(3)), 'bytes at the position')
  t.ok(file.subarray(0, 5000).equals(Buffer.alloc(5000, 1)) && file.subarray(105_000).equals(Buffer.alloc(195_000, 1)), 'nothing else touched')
  t.ok((await worker.sha1(data))!.equals(createHash('sha1').update(bytes.subarray(3)).digest()))
  t.equal(worker.answered, 2)
})

t.test('buffers outside shared memory are refused (the caller does the work)', async (t) => {
  const worker = new PieceWorker()
  t.teardown(async () => { await worker.close() })
  t.equal(worker.write(1, Buffer.alloc(10), 0), null)
  t.equal(worker.sha1(Buffer.alloc(10)), null)
  t.equal(worker.answered, 0)
})

t.test('a failing write rejects with the system error code', async (t) => {
  const worker = new PieceWorker()
  t.teardown(async () => { await worker.close() })
  const path = join(t.testdir(), 'ro')
  writeFileSync(path, 'x')
  const fd = openSync(path, 'r') // read-only: writes fail with EBADF
  t.teardown(() => closeSync(fd))
  await t.rejects(worker.write(fd, shared(Buffer.alloc(10)), 0)!, { code: 'EBADF' })
})

t.test('an idle worker does not keep the process alive; close() stops it and pending jobs fail', async (t) => {
  const worker = new PieceWorker()
  await worker.sha1(shared(Buffer.alloc(1 << 20)))
  const pending = t.rejects(worker.sha1(shared(Buffer.alloc(64 << 20)))!, /stopped/) // still running at close()
  await worker.close()
  await pending
  // after close a new job starts a new worker
  t.ok((await worker.sha1(shared(Buffer.from('abc'))))!.equals(createHash('sha1').update('abc').digest()))
  await worker.close()
})

t.test('warm: the thread starts before the first job, and an idle warmed worker does not keep the process alive', async (t) => {
  const worker = new PieceWorker()
  t.teardown(async () => await worker.close())
  t.equal(worker.started, false, 'nothing started by the constructor')
  worker.warm()
  t.equal(worker.started, true, 'started by warm()')
  // the process must still be free to exit: a child that only warms a worker ends by itself
  const { spawnSync } = await import('node:child_process')
  const script = `import { PieceWorker } from ${JSON.stringify(new URL('../lib/piece-worker.ts', import.meta.url).href)}; new PieceWorker().warm()`
  const run = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
  t.equal(run.status, 0, `the child exited by itself (${run.stderr.slice(-300)})`)
  await worker.close()
  t.equal(worker.started, false, 'closed')
})

t.test('the jobs of one loop turn go in one message, each with its own answer', async (t) => {
  const worker = new PieceWorker({ chunk: 4096 })
  t.teardown(async () => { await worker.close() })
  const path = join(t.testdir(), 'f')
  writeFileSync(path, Buffer.alloc(0))
  const fd = openSync(path, 'r+')
  t.teardown(() => closeSync(fd))
  // pieces of 16 KiB and of 1.5 MiB mixed: a batch past the worker's answer size is answered in parts
  const pieces = [16384, 1536 * 1024, 16384, 1536 * 1024, 16384].map((n, i) => seededBytes(n, i + 10))
  let position = 0
  const placed = pieces.map((bytes) => { const at = position; position += bytes.length; return { bytes, at } })
  const hashes = placed.map(({ bytes }) => worker.sha1(shared(bytes))!)
  const writes = placed.map(({ bytes, at }) => worker.write(fd, shared(bytes), at)!)
  t.equal(worker.messages, 0, 'nothing sent before the turn ends')
  const digests = await Promise.all(hashes)
  t.same(await Promise.all(writes), pieces.map((p) => p.length), 'each write answered with its length')
  t.equal(worker.messages, 1, 'ten jobs, one message')
  t.equal(worker.answered, 10)
  t.ok(worker.answers > 1, `answered in parts (${worker.answers} messages), not once after the last write`)
  digests.forEach((digest, i) => t.ok(digest.equals(createHash('sha1').update(pieces[i]!).digest()), `digest ${i}`))
  t.ok(readFileSync(path).equals(Buffer.concat(pieces)), 'every write landed at its position')
  // a later turn: a message of its own
  t.ok((await worker.sha1(shared(Buffer.from('abc'))))!.equals(createHash('sha1').update('abc').digest()))
  t.equal(worker.messages, 2)
})
