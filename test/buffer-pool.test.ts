import t from 'tap'
import { BufferPool, BUFFER_POOL_DEFAULTS } from '../lib/buffer-pool.js'

t.test('a released buffer is handed out again instead of a new one', async (t) => {
  const pool = new BufferPool(1024, { slabBytes: 0 })
  const a = pool.acquire()
  t.equal(a.length, 1024)
  pool.release(a)
  t.equal(pool.freeCount, 1)
  t.equal(pool.acquire(), a, 'the same buffer comes back')
  t.not(pool.acquire(), a, 'an empty pool allocates')
})

t.test('releasing twice, a wrong-sized buffer, or past the bound does not grow the pool', async (t) => {
  const pool = new BufferPool(64, { maxFree: 2, maxFreeBytes: 0, slabBytes: 0 })
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
  t.same(BUFFER_POOL_DEFAULTS, { maxFree: 16, maxFreeBytes: 8 * 1024 * 1024, slabBytes: 1024 * 1024, shared: false })
})

t.test('small buffers are cut from one slab; each is its own, and reused', async (t) => {
  const pool = new BufferPool(16 * 1024, { shared: true })
  const first = pool.acquire()
  t.equal(pool.freeCount, 63, 'one 1 MiB slab: 64 buffers of 16 KiB, one handed out')
  const all = [first, ...Array.from({ length: 63 }, () => pool.acquire())]
  t.equal(pool.freeCount, 0)
  t.ok(all.every((b) => b.buffer === first.buffer && b.length === 16 * 1024), 'all from one SharedArrayBuffer')
  t.equal(new Set(all.map((b) => b.byteOffset)).size, 64, 'no two overlap')
  all.forEach((b, i) => b.fill(i))
  t.ok(all.every((b, i) => b.every((byte) => byte === i)), 'writing one does not touch another')
  const next = pool.acquire()
  t.not(next.buffer, first.buffer, 'the next comes from a new slab')
  for (const b of all) pool.release(b)
  pool.release(next)
  t.equal(pool.freeCount, 63 + 65, 'the rest of the second slab, and the 65 released')
  t.same(new Set(Array.from({ length: 65 }, () => pool.acquire())), new Set([...all, next]), 'the same buffers come back')
  // 8 MiB of free 16 KiB buffers are kept (the default maxFreeBytes), not 16
  const many = Array.from({ length: 600 }, () => pool.acquire())
  for (const b of many) pool.release(b)
  t.equal(pool.freeCount, 512)
})

t.test('buffers larger than half a slab are allocated one by one', async (t) => {
  const pool = new BufferPool(512 * 1024 + 1)
  pool.acquire()
  t.equal(pool.freeCount, 0)
  const half = new BufferPool(512 * 1024)
  half.acquire()
  t.equal(half.freeCount, 1, 'two to a slab')
})

t.test('shared: buffers live in SharedArrayBuffers (for the piece worker) and are reused like any other', async (t) => {
  const pool = new BufferPool(4096, { shared: true, slabBytes: 0 })
  const a = pool.acquire()
  t.ok(a.buffer instanceof SharedArrayBuffer)
  t.equal(a.length, 4096)
  pool.release(a)
  t.equal(pool.acquire(), a, 'reused')
  t.notOk(new BufferPool(4096).acquire().buffer instanceof SharedArrayBuffer, 'not by default')
})
