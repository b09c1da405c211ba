/**
 * The storage seam, the size of a postcard (in the spirit of anacrolix's `storage` package): where verified pieces
 * go and where uploads and readers get them back. The sink, the resume check, the read cache and file streams name
 * only this interface; `FileStore` (files on disk) and `MemoryStore` (a map of buffers) implement it.
 *
 * Contract: `writePiece` is called only with verified bytes of a whole piece; `read` is asked only for ranges of
 * pieces that were written (or that `present` named, for the resume check, which hashes before trusting them).
 */
export interface PieceStore {
  /** Make ready for the first write (directories, zero-length files, safety checks). */
  open: () => Promise<void>
  /** Which pieces may hold data from before (candidates for the resume check); nothing is trusted unhashed. */
  present: () => Promise<(index: number) => boolean>
  /** `length` bytes of piece `index` from `offset`. */
  read: (index: number, offset: number, length: number) => Promise<Buffer>
  /** Store a whole verified piece. */
  writePiece: (index: number, data: Buffer) => Promise<void>
  close: () => Promise<void>
}
