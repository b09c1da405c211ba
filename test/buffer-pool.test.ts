import t from 'tap'
import { BufferPool, BUFFER_POOL_DEFAULTS } from '../lib/buffer-pool.js'

t.test('a released buffer is handed out again instead of a new one', async (t) => {
  const pool = new BufferPool(1024)
  const a = pool.acquire()
  t.equal(a.length, 1024)
  pool.release(a)
  t.equal(pool.freeCount, 1)
  t.equal(pool.acquire(), a, 'the same buffer comes back')
  t.not(pool.acquire(), a, 'an empty pool allocates')
})

t.test('releasing twice, a wrong-sized buffer, or past the bound does not grow the pool', async (t) => {
  const pool = new BufferPool(64, { maxFree: 2 })
  const a = pool.acquire()
  pool.release(a)
  pool.release(a)
  t.equal(pool.freeCount, 1, 'a double release is ignored (one buffer must never be handed to two owners)')
  pool.release(Buffer.alloc(32))
  t.equal(pool.freeCount, 1, 'a buffer of another size is not pooled')
  pool.release(pool.acquire())
  pool.release(Buffer.alloc(64))
  pool.release(Buffer.alloc(64))
  t.equal(pool.freeCount, 2, 'at most maxFree buffers are kept')
  t.equal(BUFFER_POOL_DEFAULTS.maxFree, 16)
})

t.test('shared: buffers live in SharedArrayBuffers (for the piece worker) and are reused like any other', async (t) => {
  const pool = new BufferPool(4096, { shared: true })
  const a = pool.acquire()
  t.ok(a.buffer instanceof SharedArrayBuffer)
  t.equal(a.length, 4096)
  pool.release(a)
  t.equal(pool.acquire(), a, 'reused')
  t.notOk(new BufferPool(4096).acquire().buffer instanceof SharedArrayBuffer, 'not by default')
})
