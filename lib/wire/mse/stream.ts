/**
 * EncryptedStream: the payload stream of an RC4 MSE connection, a Duplex over the socket the handshake ran on.
 * Used as `pump(stream, wire, stream)`, exactly like a socket.
 *
 *   readable side  ← socket chunks, decrypted in place (the stream owns the socket: nobody else reads it)
 *   writable side  → each chunk encrypted into a new buffer (the writer's buffer is left alone: a Wire sends
 *                    views of piece data) and written to the socket
 *
 * Backpressure both ways, nothing buffered beyond the streams' own high-water marks: when our readable side is
 * full the socket is paused until `_read`; a write that the socket refuses (write() false) completes only on
 * its 'drain'. Ends and errors travel across: the socket's end ends our readable side, our end ends the
 * socket's writable side, an error or a close without end on the socket destroys us, and destroying us
 * destroys the socket.
 */
import { Duplex } from 'node:stream'
import type { Rc4 } from './rc4.js'

export class EncryptedStream extends Duplex {
  /** The socket underneath (for addresses, timeouts, setNoDelay). */
  readonly socket: Duplex
  readonly #encrypt: Rc4
  readonly #decrypt: Rc4
  #socketEnded = false
  #pendingWrite: ((err?: Error | null) => void) | null = null

  /**
   * `head`: payload the handshake already received, decrypted; it comes out first. `decrypt` must be at the
   * keystream position of the socket's next byte. The socket should be paused, with any later bytes in it.
   */
  constructor (socket: Duplex, encrypt: Rc4, decrypt: Rc4, head: Buffer = Buffer.alloc(0)) {
    super({ allowHalfOpen: true })
    this.socket = socket
    this.#encrypt = encrypt
    this.#decrypt = decrypt
    if (head.length > 0) this.push(head)
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('drain', this.#onDrain)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    // 'data' listeners resume a paused socket; start paused and let _read resume it, so backpressure holds
    socket.pause()
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.push(this.#decrypt.updateInPlace(chunk))) this.socket.pause()
  }

  readonly #onEnd = (): void => {
    this.#socketEnded = true
    this.push(null)
  }

  readonly #onDrain = (): void => {
    const cb = this.#pendingWrite
    this.#pendingWrite = null
    cb?.()
  }

  readonly #onError = (err: Error): void => {
    this.destroy(err)
  }

  readonly #onClose = (): void => {
    // closed after its end: our readable side ends by itself once read; otherwise the connection is gone
    if (!this.#socketEnded) this.destroy()
  }

  override _read (): void {
    this.socket.resume()
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.socket.write(this.#encrypt.update(chunk))) cb()
    else this.#pendingWrite = cb
  }

  override _final (cb: (err?: Error | null) => void): void {
    this.socket.end()
    cb()
  }

  override _destroy (err: Error | null, cb: (err?: Error | null) => void): void {
    const socket = this.socket
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('drain', this.#onDrain)
    socket.off('error', this.#onError)
    socket.off('close', this.#onClose)
    // keep a listener: an error the socket emits while closing must not become an uncaught exception
    socket.on('error', () => {})
    socket.destroy()
    this.#pendingWrite = null
    cb(err)
  }
}
