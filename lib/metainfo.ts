/**
 * Metainfo: the bytes of a .torrent file → a typed, immutable description (BEP 3, 12, 19, 27, 47).
 *
 * The info hash is the SHA1 of the `info` value exactly as it stands in the file (BEP 3): we locate its byte
 * range with our own bounded scanner (lib/bencode-scan.ts) and never re-encode, so a torrent with unsorted keys
 * or unknown fields gets the hash every other client computes.
 */
export interface TorrentFile {
  /** Path components below the torrent's root, already checked by lib/path-safety.ts. */
  readonly path: readonly string[]
  readonly length: number
  /** Byte offset of the file's first byte within the torrent's concatenated data. */
  readonly offset: number
  /** BEP 47 padding file: occupies space in the piece layout but is never written. */
  readonly pad: boolean
}

export interface Metainfo {
  readonly infoHash: Buffer
  readonly infoHashHex: string
  /** The raw bencoded `info` dictionary (what ut_metadata will serve). */
  readonly infoBytes: Buffer
  readonly name: string
  readonly pieceLength: number
  readonly pieceCount: number
  readonly lastPieceLength: number
  /** Concatenated 20-byte SHA1 hashes; use pieceHash(meta, i). */
  readonly pieces: Buffer
  readonly length: number
  /** True when the torrent has `length` (one file) rather than `files`. */
  readonly singleFile: boolean
  readonly files: readonly TorrentFile[]
  /** BEP 12 tiers; without `announce-list`, one tier with `announce`. */
  readonly announce: readonly (readonly string[])[]
  /** BEP 19 web seeds. */
  readonly urlList: readonly string[]
  /** BEP 27. */
  readonly private: boolean
  readonly comment?: string
  readonly createdBy?: string
  readonly creationDate?: Date
}
