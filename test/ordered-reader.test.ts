import t, { type Test } from 'tap'
import { EventEmitter } from 'node:events'
import { OrderedReader, ORDERED_READER_DEFAULTS, type OrderedSource } from '../lib/ordered-reader.js'
import { seededBytes } from './helpers/create-fixtures.js'

const PIECE_LENGTH = 1000
const LAST = 321

/** A download in memory: pieces "land" when the test says so, as Session emits 'piece-written'. */
class FakeSource extends EventEmitter implements OrderedSource {
  readonly meta: { pieceCount: number, pieceLength: number }
  readonly data: Buffer
  readonly written = new Set<number>()
  readonly windows: Array<[number, number]> = []
  readonly reads: number[] = []
  failRead: Error | null = null
  readonly storage = {
    read: async (index: number, offset: number, length: number): Promise<Buffer> => {
      this.reads.push(index)
      await new Promise((resolve) => setImmediate(resolve))
      if (this.failRead !== null) throw this.failRead
      if (!this.written.has(index)) throw new Error(`piece ${index} read before it was written`)
      const start = index * PIECE_LENGTH + offset
      return Buffer.from(this.data.subarray(start, start + length))
    }
  }

  readonly picker = {
    pieceSize: (index: number): number => index === this.meta.pieceCount - 1 ? LAST : PIECE_LENGTH
  }

  constructor (pieceCount: number) {
    super()
    this.meta = { pieceCount, pieceLength: PIECE_LENGTH }
    this.data = seededBytes(pieceCount === 0 ? 0 : (pieceCount - 1) * PIECE_LENGTH + LAST, 11)
  }

  hasPiece (index: number): boolean { return this.written.has(index) }
  setWindow (start: number, length: number): void { this.windows.push([start, length]) }
  write (index: number): void { this.written.add(index); this.emit('piece-written', index) }
}

const turn = async (n = 10): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve)) }

function collect (t: Test, reader: OrderedReader): { chunks: Buffer[], ended: Promise<void> } {
  const chunks: Buffer[] = []
  reader.on('data', (c: Buffer) => chunks.push(c))
  const ended = new Promise<void>((resolve, reject) => { reader.on('end', resolve); reader.on('error', reject) })
  t.teardown(() => { reader.destroy() })
  return { chunks, ended }
}

t.test('defaults are named in one place', async (t) => {
  t.equal(ORDERED_READER_DEFAULTS.window, 16)
})

t.test('pieces landing out of order come out in order, byte for byte, then the stream ends', async (t) => {
  const source = new FakeSource(5)
  const reader = new OrderedReader(source, { window: 2 })
  const { chunks, ended } = collect(t, reader)
  source.write(3)
  source.write(1)
  await turn()
  t.equal(chunks.length, 0, 'piece 0 missing: nothing yet')
  t.same(source.reads, [], 'and nothing read')
  source.write(0)
  await turn()
  t.equal(chunks.length, 2, 'pieces 0 and 1 flow; 2 is missing')
  source.write(4)
  source.write(2)
  await ended
  t.ok(Buffer.concat(chunks).equals(source.data), 'the torrent bytes in order')
  t.same(chunks.map((c) => c.length), [1000, 1000, 1000, 1000, LAST], 'one chunk a piece, the last one short')
  t.same(source.reads, [0, 1, 2, 3, 4], 'each piece read once')
})

t.test('the streaming window follows the play position', async (t) => {
  const source = new FakeSource(4)
  const reader = new OrderedReader(source, { window: 3 })
  t.same(source.windows, [[0, 3]], 'set at construction')
  const { ended } = collect(t, reader)
  for (const i of [0, 1, 2, 3]) source.write(i)
  await ended
  t.same(source.windows, [[0, 3], [1, 3], [2, 3], [3, 3], [4, 3]], 'moved past each piece delivered')
})

t.test('pieces already on disk are read at once', async (t) => {
  const source = new FakeSource(3)
  for (const i of [0, 1, 2]) source.written.add(i)
  const { chunks, ended } = collect(t, new OrderedReader(source))
  await ended
  t.ok(Buffer.concat(chunks).equals(source.data))
})

t.test('backpressure: no read from storage runs ahead of a consumer that does not read', async (t) => {
  const source = new FakeSource(8)
  for (let i = 0; i < 8; i++) source.written.add(i)
  const reader = new OrderedReader(source)
  t.teardown(() => { reader.destroy() })
  reader.read(0) // start, then read nothing
  await turn(20)
  t.ok(source.reads.length <= 2, `at most one piece buffered and one in flight (read ${source.reads.length})`)
  t.ok(reader.readableLength <= 2 * PIECE_LENGTH)
  const before = source.reads.length
  source.emit('piece-written', 7)
  await turn(20)
  t.equal(source.reads.length, before, "'piece-written' does not pull while the consumer is not reading")
  const got: Buffer[] = []
  reader.on('data', (c: Buffer) => got.push(c))
  await new Promise((resolve) => reader.on('end', resolve))
  t.ok(Buffer.concat(got).equals(source.data), 'reading again resumes where it stopped')
})

t.test('an empty torrent ends at once', async (t) => {
  const { chunks, ended } = collect(t, new OrderedReader(new FakeSource(0)))
  await ended
  t.same(chunks, [])
})

t.test('a storage error destroys the reader with it', async (t) => {
  const source = new FakeSource(2)
  source.failRead = Object.assign(new Error('disk gone'), { code: 'EIO' })
  const reader = new OrderedReader(source)
  reader.resume()
  source.write(0)
  const [err] = await new Promise<[Error]>((resolve) => reader.once('error', (e) => resolve([e])))
  t.equal((err as { code?: string }).code, 'EIO')
  t.equal(source.listenerCount('piece-written'), 0, 'listener removed on destroy')
})

t.test('destroy removes its piece-written listener', async (t) => {
  const source = new FakeSource(2)
  const reader = new OrderedReader(source)
  t.equal(source.listenerCount('piece-written'), 1)
  reader.destroy()
  await turn()
  t.equal(source.listenerCount('piece-written'), 0)
  source.write(0)
  await turn()
  t.same(source.reads, [], 'nothing read after destroy')
})
