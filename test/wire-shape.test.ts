/** Wire.setShape: a wire that started without the torrent's piece count (a magnet link) learns it later. */
import t from 'tap'
import { encodeHandshake, encodeMessageToBuffer, Wire, type Message } from '../lib/wire/index.js'

const infoHash = Buffer.alloc(20, 0xaa)
const ID_A = Buffer.from('-ZT0100-aaaaaaaaaaaa', 'latin1')
const ID_B = Buffer.from('-ZT0100-bbbbbbbbbbbb', 'latin1')
const SHAPE = { pieceCount: 10, pieceLength: 32768, lastPieceLength: 1000 }

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

/** An initiator Wire knowing only the info hash, fed a handshake and then `msgs` from a scripted peer. */
async function unsized (...msgs: Message[]): Promise<{ wire: Wire, errors: Error[] }> {
  const wire = new Wire({ peerId: ID_A, infoHash })
  const errors: Error[] = []
  wire.on('error', (err) => errors.push(err))
  wire.resume()
  wire.write(encodeHandshake({ infoHash, peerId: ID_B, fast: true, extended: true }))
  for (const m of msgs) wire.write(encodeMessageToBuffer(m))
  await tick()
  return { wire, errors }
}

function bits (...set: number[]): Buffer {
  const buf = Buffer.alloc(2)
  for (const i of set) buf[i >> 3]! |= 0x80 >> (i & 7)
  return buf
}

t.test('a bitfield and haves taken before the piece count are kept once it is known', async (t) => {
  const { wire, errors } = await unsized({ type: 'bitfield', bitfield: bits(0, 3, 9) }, { type: 'have', index: 5 })
  t.same(errors, [])
  t.equal(wire.peerPieces.length, 16, 'before: every bit of the bitfield counts')
  t.equal(wire.setShape(SHAPE), true)
  t.equal(wire.peerPieces.length, 10, 'after: sized to the torrent')
  t.same([...wire.peerPieces], [0, 3, 5, 9])
  // from now on the sizes are checked as usual
  const closed = new Promise<Error>((resolve) => wire.once('error', resolve))
  wire.write(encodeMessageToBuffer({ type: 'have', index: 10 }))
  t.equal((await closed as { code?: string }).code, 'INDEX_OUT_OF_RANGE')
})

t.test('have-all before the piece count: every piece once it is known', async (t) => {
  const { wire } = await unsized({ type: 'have-all' })
  t.ok(wire.peerHasAll)
  t.ok(wire.setShape(SHAPE))
  t.equal(wire.peerPieces.count(), 10)
  t.ok(wire.peerPieces.hasAll())
})

t.test('only haves before the piece count', async (t) => {
  const { wire } = await unsized({ type: 'have', index: 2 }, { type: 'have', index: 7 })
  t.ok(wire.setShape(SHAPE))
  t.same([...wire.peerPieces], [2, 7])
})

t.test('what does not fit the torrent destroys the wire, as it would have on arrival', async (t) => {
  const cases: Array<[string, Message[], string]> = [
    ['a bitfield of the wrong size', [{ type: 'bitfield', bitfield: Buffer.alloc(3) }], 'BAD_BITFIELD'],
    ['spare bits set', [{ type: 'bitfield', bitfield: bits(0, 12) }], 'BAD_BITFIELD'],
    ['a have past the last piece', [{ type: 'have', index: 10 }], 'INDEX_OUT_OF_RANGE'],
    ['a have past the bitfield', [{ type: 'bitfield', bitfield: bits(1) }, { type: 'have', index: 20 }], 'INDEX_OUT_OF_RANGE']
  ]
  for (const [what, msgs, code] of cases) {
    const { wire, errors } = await unsized(...msgs)
    t.same(errors, [], `${what}: accepted while the count was unknown`)
    t.equal(wire.setShape(SHAPE), false, what)
    await tick()
    t.equal((errors[0] as { code?: string } | undefined)?.code, code, `${what}: ${code}`)
    t.ok(wire.destroyed)
  }
})

t.test('once only, and only on a wire made without a piece count', async (t) => {
  const { wire } = await unsized()
  t.ok(wire.setShape(SHAPE))
  t.throws(() => wire.setShape(SHAPE), { code: 'BAD_ARGUMENT' })
  const sized = new Wire({ peerId: ID_A, infoHash, ...SHAPE })
  t.throws(() => sized.setShape(SHAPE), { code: 'BAD_ARGUMENT' })
  sized.destroy()
  const { wire: other } = await unsized()
  t.throws(() => other.setShape({ pieceCount: 0, pieceLength: 1 }), { code: 'BAD_ARGUMENT' })
  wire.destroy()
  other.destroy()
})
