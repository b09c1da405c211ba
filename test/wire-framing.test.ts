import t from 'tap'
import {
  createFraming,
  encodeHandshake,
  encodeMessageToBuffer,
  FrameDecoder,
  type Frame,
  type FramingOptions,
  type Message
} from '../lib/wire/index.js'

/** Deterministic PRNG (mulberry32) so a failing chunking reproduces. */
function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const infoHash = Buffer.alloc(20, 0x11)
const peerId = Buffer.from('-ZT0100-000000000000', 'latin1')
const block = Buffer.alloc(16384)
for (let i = 0; i < block.length; i++) block[i] = (i * 31) & 0xff

const MESSAGES: Message[] = [
  { type: 'bitfield', bitfield: Buffer.from([0xff, 0xc0]) },
  { type: 'keep-alive' },
  { type: 'choke' }, { type: 'unchoke' }, { type: 'interested' }, { type: 'not-interested' },
  { type: 'have', index: 9 },
  { type: 'request', index: 1, offset: 16384, length: 16384 },
  { type: 'piece', index: 1, offset: 16384, data: block },
  { type: 'keep-alive' }, { type: 'keep-alive' },
  { type: 'cancel', index: 3, offset: 0, length: 100 },
  { type: 'port', port: 6881 },
  { type: 'suggest', index: 4 }, { type: 'have-all' }, { type: 'have-none' },
  { type: 'reject', index: 5, offset: 16384, length: 1 },
  { type: 'allowed-fast', index: 6 },
  { type: 'extended', id: 0, payload: Buffer.from('d1:md6:ut_pexi1eee') },
  { type: 'piece', index: 9, offset: 0, data: Buffer.from('tail') },
  { type: 'extended', id: 2, payload: Buffer.alloc(0) }
]

/** A recorded session: handshake, every message, an unknown id in the middle (to be skipped). */
const unknown = Buffer.from([0, 0, 0, 6, 0x42, 1, 2, 3, 4, 5])
const RECORDED = Buffer.concat([
  encodeHandshake({ infoHash, peerId }),
  ...MESSAGES.slice(0, 8).map(encodeMessageToBuffer),
  unknown,
  ...MESSAGES.slice(8).map(encodeMessageToBuffer)
])
const EXPECTED: Frame[] = [
  { type: 'handshake', infoHash, peerId, extended: true, fast: true, dht: false, reserved: Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 0x04]) },
  ...MESSAGES
]

function chunkings (buf: Buffer): Array<[string, Buffer[]]> {
  const out: Array<[string, Buffer[]]> = [['whole', [buf]]]
  const ones: Buffer[] = []
  for (let i = 0; i < buf.length; i++) ones.push(buf.subarray(i, i + 1))
  out.push(['one byte at a time', ones])
  for (const seed of [1, 2, 3, 4, 5, 1234]) {
    const rnd = prng(seed)
    const chunks: Buffer[] = []
    for (let i = 0; i < buf.length;) {
      const n = 1 + 2 * Math.floor(rnd() * (seed === 1234 ? 4000 : 40)) // odd sizes
      chunks.push(buf.subarray(i, i + n))
      i += n
    }
    out.push([`random odd chunks, seed ${seed}`, chunks])
  }
  return out
}

function decodeAll (chunks: Buffer[], opts: FramingOptions = { handshake: true, pieceCount: 10 }): Frame[] {
  const decoder = new FrameDecoder(opts)
  const frames: Frame[] = []
  for (const c of chunks) decoder.write(c, (f) => { frames.push(f) })
  t.equal(decoder.buffered, 0, 'nothing left half-read')
  return frames
}

t.test('a recorded stream yields the same messages whole, byte by byte and in random odd chunks', async t => {
  for (const [name, chunks] of chunkings(RECORDED)) {
    t.same(decodeAll(chunks), EXPECTED, name)
  }
})

t.test('the Transform yields the same objects, keep-alives included', async t => {
  for (const [name, chunks] of chunkings(RECORDED)) {
    const framing = createFraming({ handshake: true, pieceCount: 10 })
    const frames: Frame[] = []
    framing.on('data', (f: Frame) => frames.push(f))
    for (const c of chunks) framing.write(c)
    framing.end()
    await new Promise((resolve) => framing.on('end', resolve))
    t.same(frames, EXPECTED, name)
    t.equal(framing.decoder.ignored, 1, 'the unknown id was skipped')
  }
})

t.test('a piece inside one chunk is a view of it; a split piece is copied once', async t => {
  const msg = encodeMessageToBuffer({ type: 'piece', index: 0, offset: 0, data: block })
  const chunk = Buffer.concat([msg, msg.subarray(0, 100)])
  const frames: Frame[] = []
  const decoder = new FrameDecoder()
  decoder.write(chunk, (f) => { frames.push(f) })
  decoder.write(msg.subarray(100), (f) => { frames.push(f) })
  t.equal(frames.length, 2)
  const [whole, split] = frames
  if (whole.type !== 'piece' || split.type !== 'piece') throw new Error('expected pieces')
  t.equal(whole.data.buffer, chunk.buffer, 'zero copy')
  t.equal(whole.data.byteOffset, chunk.byteOffset + 13)
  t.not(split.data.buffer, chunk.buffer, 'assembled from two chunks')
  t.same(split.data, block)
})

t.test('refuse before buffering: an oversized length is refused from its 5 header bytes', async t => {
  const cases: Array<[string, Buffer, string, FramingOptions?]> = [
    ['piece over 16 KiB + 9', Buffer.from([0, 0, 0x40, 0x0a, 7]), 'MESSAGE_TOO_LONG'],
    ['4 GiB piece', Buffer.from([0xff, 0xff, 0xff, 0xff, 7]), 'MESSAGE_TOO_LONG'],
    ['long have', Buffer.from([0, 0, 0, 6, 4]), 'MESSAGE_TOO_LONG'],
    ['long choke', Buffer.from([0, 0, 1, 0, 0]), 'MESSAGE_TOO_LONG'],
    ['short request', Buffer.from([0, 0, 0, 12, 6]), 'BAD_MESSAGE'],
    ['short piece', Buffer.from([0, 0, 0, 8, 7]), 'BAD_MESSAGE'],
    ['extended over bound', Buffer.from([0, 0, 4, 2, 20]), 'MESSAGE_TOO_LONG', { maxExtendedLength: 1024 }],
    ['extended without id', Buffer.from([0, 0, 0, 1, 20]), 'BAD_MESSAGE'],
    ['unknown id over bound', Buffer.from([0x10, 0, 0, 0, 0x42]), 'MESSAGE_TOO_LONG'],
    ['bitfield of the wrong size', Buffer.from([0, 0, 0, 4, 5]), 'BAD_BITFIELD', { pieceCount: 10 }],
    ['bitfield over bound', Buffer.from([0, 0x20, 0, 2, 5]), 'MESSAGE_TOO_LONG']
  ]
  for (const [name, header, code, opts] of cases) {
    const decoder = new FrameDecoder(opts)
    // All but the last header byte are accepted; the fifth (the id) triggers the refusal.
    t.equal(decoder.write(header.subarray(0, 4), () => {}), 4, `${name}: waits for the id`)
    t.throws(() => decoder.write(header.subarray(4), () => {}), { code }, name)
  }
})

t.test('the Transform is destroyed with MESSAGE_TOO_LONG', async t => {
  const framing = createFraming()
  const err = await new Promise<Error>((resolve) => {
    framing.on('error', resolve)
    framing.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 7]))
  })
  t.match(err, { code: 'MESSAGE_TOO_LONG' })
})

t.test('a larger block bound is honoured', async t => {
  const data = Buffer.alloc(32768)
  const frames = decodeAll([encodeMessageToBuffer({ type: 'piece', index: 0, offset: 0, data })], { maxBlockLength: 32768 })
  t.equal(frames.length, 1)
})

t.test('a handshake that is not BitTorrent is refused at its first byte', async t => {
  const decoder = new FrameDecoder({ handshake: true })
  t.throws(() => decoder.write(Buffer.from('GET / HTTP/1.1\r\n'), () => {}), { code: 'BAD_HANDSHAKE' })
  const d2 = new FrameDecoder({ handshake: true })
  const hs = encodeHandshake({ infoHash, peerId })
  hs[3] = 0x21
  t.throws(() => d2.write(hs, () => {}), { code: 'BAD_HANDSHAKE' })
})

t.test('returning false pauses: write reports what it consumed', async t => {
  const decoder = new FrameDecoder({ handshake: true })
  const frames: Frame[] = []
  const consumed = decoder.write(RECORDED, (f) => { frames.push(f); return f.type !== 'handshake' })
  t.equal(consumed, 68)
  t.equal(frames.length, 1)
  decoder.setPieceCount(10)
  t.equal(decoder.write(RECORDED.subarray(consumed), (f) => { frames.push(f) }), RECORDED.length - 68)
  t.same(frames, EXPECTED)
})

t.test('ten thousand keep-alives in one chunk', async t => {
  const frames = decodeAll([Buffer.alloc(40000)], {})
  t.equal(frames.length, 10000)
  t.ok(frames.every((f) => f.type === 'keep-alive'))
})
