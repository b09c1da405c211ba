import t from 'tap'
import { once } from 'node:events'
import { createRc4, EncryptedStream } from '../lib/wire/mse/index.js'
import { seededRandomBytes, until } from './helpers/mse.js'
import { tcpPair } from './helpers/sockets.js'

const KEY_OUT = Buffer.from('key for bytes we send')
const KEY_IN = Buffer.from('key for bytes we receive')
const TOTAL = 8 * 1024 * 1024
const DATA = seededRandomBytes(3)(TOTAL)

t.test('reading: a stream nobody reads pauses its socket; later every byte comes out decrypted, head first', async t => {
  const [ours, theirs] = await tcpPair(t)
  const head = Buffer.from('head: already read and decrypted by the handshake|')
  const stream = new EncryptedStream(ours, createRc4(KEY_OUT), createRc4(KEY_IN), head)
  const theirEncrypt = createRc4(KEY_IN)
  let written = 0
  const writeAll = async (): Promise<void> => {
    for (let i = 0; i < TOTAL; i += 65536) {
      written += 65536
      if (!theirs.write(theirEncrypt.update(DATA.subarray(i, i + 65536)))) await once(theirs, 'drain')
    }
    theirs.end()
  }
  const writing = writeAll()
  // no reader yet: our side must stop taking bytes from the kernel
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(written < TOTAL, `the writer is held back (${written} of ${TOTAL} bytes written)`)
  t.ok(ours.bytesRead < 1024 * 1024, `we read only ${ours.bytesRead} bytes while nobody read us`)
  t.ok(ours.isPaused(), 'the socket is paused')

  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  await once(stream, 'end')
  await writing
  const all = Buffer.concat(chunks)
  t.same(all.subarray(0, head.length), head, 'the head came out first')
  t.ok(all.subarray(head.length).equals(DATA), 'then every byte, decrypted')
  stream.destroy()
})

t.test('writing: writes wait for the socket\'s drain; the peer gets every byte encrypted, then our end', async t => {
  const [ours, theirs] = await tcpPair(t)
  const stream = new EncryptedStream(ours, createRc4(KEY_OUT), createRc4(KEY_IN))
  const source = Buffer.from(DATA) // the writer's buffer must come back untouched
  let refused = false
  let completed = 0
  theirs.pause()
  for (let i = 0; i < TOTAL; i += 16384) {
    if (!stream.write(source.subarray(i, i + 16384), () => { completed++ })) refused = true
  }
  stream.end()
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(refused, 'write() said to wait')
  t.ok(completed < TOTAL / 16384, `only ${completed} writes completed while the peer did not read`)
  t.ok(ours.writableLength <= ours.writableHighWaterMark + 16384, `the socket holds ${ours.writableLength} bytes, not the backlog`)

  const theirDecrypt = createRc4(KEY_OUT)
  const got: Buffer[] = []
  theirs.on('data', (c: Buffer) => got.push(theirDecrypt.update(c)))
  theirs.resume()
  await once(theirs, 'end')
  t.ok(Buffer.concat(got).equals(DATA), 'the peer decrypted every byte')
  t.ok(source.equals(DATA), 'our buffers were not written over')
  t.equal(completed, TOTAL / 16384)
  await until(() => stream.writableFinished, 2000, 'finish')
  stream.destroy()
})

t.test('the socket ending ends the stream; the stream\'s end ends the socket after its last bytes', async t => {
  {
    const [ours, theirs] = await tcpPair(t)
    const stream = new EncryptedStream(ours, createRc4(KEY_OUT), createRc4(KEY_IN))
    stream.resume()
    theirs.end()
    await once(stream, 'end')
    t.pass('the peer\'s end reached our readable side')
  }
  {
    const [ours, theirs] = await tcpPair(t)
    const stream = new EncryptedStream(ours, createRc4(KEY_OUT), createRc4(KEY_IN))
    const theirDecrypt = createRc4(KEY_OUT)
    const got: Buffer[] = []
    theirs.on('data', (c: Buffer) => got.push(theirDecrypt.update(c)))
    stream.end('last words')
    await once(theirs, 'end')
    t.equal(Buffer.concat(got).toString(), 'last words', 'the peer got our last bytes, then our end')
    stream.destroy()
  }
})

t.test('a reset connection destroys the stream; destroying the stream destroys the socket', async t => {
  {
    const [ours, theirs] = await tcpPair(t)
    const stream = new EncryptedStream(ours, createRc4(KEY_OUT), createRc4(KEY_IN))
    const errors: Error[] = []
    stream.on('error', (err) => errors.push(err))
    stream.resume()
    const closed = new Promise((resolve) => stream.once('close', resolve))
    theirs.resetAndDestroy()
    await closed
    t.match(errors[0], { code: 'ECONNRESET' }, 'with the socket\'s error')
    t.ok(stream.destroyed, 'the stream is destroyed when the connection is reset')
  }
  {
    const [ours, theirs] = await tcpPair(t)
    const stream = new EncryptedStream(ours, createRc4(KEY_OUT), createRc4(KEY_IN))
    stream.destroy()
    await once(ours, 'close')
    t.ok(ours.destroyed, 'our socket is destroyed with the stream')
    theirs.resume()
    await once(theirs, 'end')
    t.pass('the peer saw the connection end')
  }
})
