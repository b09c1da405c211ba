/**
 * The ordered reader: a torrent's bytes in order, as a Readable, starting before the download ends — for
 * `--stdout` (`zentorrent x.torrent -o - | mpv -`). It reads verified pieces back from storage as they land, so
 * memory is one piece whatever the torrent's size; and it moves the picker's streaming window along with the play
 * position, so pieces just ahead are fetched first while rarest-first still runs inside and beyond the window.
 */
import { Readable } from 'node:stream'

/** What the reader needs of a download (lib/session.ts' Session satisfies it); tests pass a fake. */
export interface OrderedSource {
  readonly meta: { readonly pieceCount: number, readonly pieceLength: number }
  readonly storage: { read: (index: number, offset: number, length: number) => Promise<Buffer> }
  readonly picker: { pieceSize: (index: number) => number }
  /** The piece is verified and on disk. */
  hasPiece: (index: number) => boolean
  /** Move the picker's streaming window. */
  setWindow: (start: number, length: number) => void
  on: (event: 'piece-written', listener: (index: number) => void) => unknown
  off: (event: 'piece-written', listener: (index: number) => void) => unknown
}

export interface OrderedReaderOptions {
  /** Pieces ahead of the play position that the picker prefers. */
  window?: number
}

export const ORDERED_READER_DEFAULTS = { window: 16 } as const

export class OrderedReader extends Readable {
  readonly #session: OrderedSource
  readonly #window: number
  #next = 0
  #reading = false
  readonly #onWritten: () => void

  constructor (session: OrderedSource, opts: OrderedReaderOptions = {}) {
    super({ highWaterMark: session.meta.pieceLength })
    this.#session = session
    this.#window = opts.window ?? ORDERED_READER_DEFAULTS.window
    this.#onWritten = () => { if (this.#reading) this.#pump() }
    session.on('piece-written', this.#onWritten)
    session.setWindow(0, this.#window)
  }

  override _read (): void {
    this.#reading = true
    this.#pump()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.#session.off('piece-written', this.#onWritten)
    callback(err)
  }

  #busy = false
  #pump (): void {
    if (this.#busy || this.destroyed) return
    const session = this.#session
    if (this.#next >= session.meta.pieceCount) {
      this.push(null)
      return
    }
    if (!session.hasPiece(this.#next)) return // wait for 'piece-written'
    this.#busy = true
    const index = this.#next
    session.storage.read(index, 0, session.picker.pieceSize(index)).then((data) => {
      this.#busy = false
      this.#next++
      session.setWindow(this.#next, this.#window)
      if (!this.push(data)) this.#reading = false
      else this.#pump()
    }, (err: Error) => { this.destroy(err) })
  }
}
