/**
 * A bounded, iterative scanner over bencode bytes (BEP 3): it checks structure without building values, and
 * reports where the top-level dictionary's `info` value starts and ends.
 *
 * Why a scanner of our own in front of `bencode.decode`:
 * - `bencode.decode` recurses once per nesting level, so `llll…` 100,000 deep overflows the stack. This scanner
 *   keeps an explicit stack and refuses past `maxDepth` (TOO_DEEP) before any recursive decoder sees the bytes.
 * - A string's length prefix is checked against the bytes left before anything is read (refuse before you buffer):
 *   `999999999:` in a 40-byte file is TRUNCATED, not an allocation.
 * - The info hash is the SHA1 of the `info` value exactly as it stands in the file (BEP 3). Re-encoding a decoded
 *   dictionary sorts keys and drops nothing, which changes the hash of any non-canonical torrent; the byte range
 *   from here is hashed instead.
 *
 * Leniency, chosen to match what libtorrent's bdecode accepts: integers may carry leading zeros or be `-0`,
 * dictionary keys need not be sorted, bytes after the top-level value are ignored. Rejected: empty integers,
 * non-digits, keys that are not strings, a dictionary ending after a key, a second `info` key at the top level
 * (which one would the hash cover?).
 */
import { ZentorrentError } from './errors.js'

/** Nesting depth allowed by default. A .torrent needs 5 (d info d files l d path l); 64 leaves room for any
 * extension while keeping a recursive decoder far from the stack limit. */
export const DEFAULT_MAX_DEPTH = 64

export interface ByteRange {
  /** Offset of the value's first byte. */
  readonly start: number
  /** Offset just past the value's last byte. */
  readonly end: number
}

export type BencodeType = 'dict' | 'list' | 'int' | 'string'

export interface ScanResult {
  /** Type of the top-level value. */
  readonly type: BencodeType
  /** Offset just past the top-level value (bytes after it are ignored). */
  readonly end: number
  /** Byte range of the top-level dictionary's `info` value, or null when there is none. */
  readonly info: ByteRange | null
}

export interface ScanOptions {
  readonly maxDepth?: number
}

const CHAR_I = 0x69 // 'i'
const CHAR_L = 0x6c // 'l'
const CHAR_D = 0x64 // 'd'
const CHAR_E = 0x65 // 'e'
const CHAR_COLON = 0x3a
const CHAR_MINUS = 0x2d
const CHAR_0 = 0x30
const CHAR_9 = 0x39
const INFO_KEY = [0x69, 0x6e, 0x66, 0x6f] // 'info'

/** Longest string-length prefix worth reading: 16 digits already exceed any buffer Node can hold. */
const MAX_LENGTH_DIGITS = 16

interface Frame {
  readonly dict: boolean
  /** In a dictionary: true when the next item must be a key. */
  keyNext: boolean
}

function isDigit (c: number): boolean {
  return c >= CHAR_0 && c <= CHAR_9
}

function truncated (at: number): ZentorrentError {
  return new ZentorrentError('TRUNCATED', `bencode data ends early (at byte ${at})`)
}

function garbage (at: number, what: string): ZentorrentError {
  return new ZentorrentError('NOT_BENCODE', `not bencode: ${what} at byte ${at}`)
}

/**
 * Walk the value at the start of `buf`; throw ZentorrentError NOT_BENCODE, TRUNCATED or TOO_DEEP, or return its
 * type, its end and the range of a top-level `info` value. Runs in O(bytes) time and O(maxDepth) memory.
 */
export function scanBencode (buf: Uint8Array, options: ScanOptions = {}): ScanResult {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH
  const size = buf.length
  if (size === 0) throw new ZentorrentError('NOT_BENCODE', 'not bencode: the data is empty')

  const first = buf[0] as number
  let type: BencodeType
  if (first === CHAR_D) type = 'dict'
  else if (first === CHAR_L) type = 'list'
  else if (first === CHAR_I) type = 'int'
  else if (isDigit(first)) type = 'string'
  else throw garbage(0, `unexpected byte 0x${first.toString(16)}`)

  const stack: Frame[] = []
  let pos = 0
  let infoStart = -1
  let info: ByteRange | null = null

  // Reads a string at pos (digits ':' bytes); returns the offset of its content.
  const readString = (): number => {
    const start = pos
    let length = 0
    let digits = 0
    for (;;) {
      if (pos >= size) throw truncated(pos)
      const c = buf[pos] as number
      if (c === CHAR_COLON) break
      if (!isDigit(c)) throw garbage(pos, digits === 0 ? `unexpected byte 0x${c.toString(16)}` : 'bad string length')
      if (++digits > MAX_LENGTH_DIGITS) throw truncated(size)
      length = length * 10 + (c - CHAR_0)
      pos++
    }
    if (digits === 0) throw garbage(start, 'string without a length')
    pos++ // ':'
    if (length > size - pos) throw truncated(size)
    const content = pos
    pos += length
    return content
  }

  const readInteger = (): void => {
    pos++ // 'i'
    if (pos < size && buf[pos] === CHAR_MINUS) pos++
    let digits = 0
    for (;;) {
      if (pos >= size) throw truncated(pos)
      const c = buf[pos] as number
      if (c === CHAR_E) break
      if (!isDigit(c)) throw garbage(pos, 'bad integer')
      digits++
      pos++
    }
    if (digits === 0) throw garbage(pos, 'empty integer')
    pos++ // 'e'
  }

  // Called after each complete value; returns true when the top-level value is done.
  const valueDone = (): boolean => {
    const top = stack[stack.length - 1]
    if (top === undefined) return true
    if (top.dict) top.keyNext = true
    if (stack.length === 1 && infoStart >= 0 && info === null) info = { start: infoStart, end: pos }
    return false
  }

  for (;;) {
    if (pos >= size) throw truncated(pos)
    const c = buf[pos] as number
    const top = stack[stack.length - 1]

    if (top !== undefined && c === CHAR_E) {
      if (top.dict && !top.keyNext) throw garbage(pos, 'dictionary key without a value')
      pos++
      stack.pop()
      if (valueDone()) break
      continue
    }

    if (top !== undefined && top.dict && top.keyNext) {
      if (!isDigit(c)) throw garbage(pos, 'dictionary key is not a string')
      const content = readString()
      top.keyNext = false
      if (stack.length === 1) {
        const isInfo = pos - content === 4 && INFO_KEY.every((b, i) => buf[content + i] === b)
        if (isInfo && (info !== null || infoStart >= 0)) throw garbage(content, 'a second info dictionary')
        if (isInfo) infoStart = pos
      }
      continue
    }

    if (c === CHAR_D || c === CHAR_L) {
      if (stack.length >= maxDepth) {
        throw new ZentorrentError('TOO_DEEP', `bencode nested deeper than ${maxDepth} levels (at byte ${pos})`)
      }
      stack.push({ dict: c === CHAR_D, keyNext: true })
      pos++
      continue
    }
    if (c === CHAR_I) readInteger()
    else if (isDigit(c)) readString()
    else throw garbage(pos, `unexpected byte 0x${c.toString(16)}`)
    if (valueDone()) break
  }

  return { type, end: pos, info }
}
