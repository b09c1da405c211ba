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
 *
 * Repeated keys (DUPLICATE_KEY): libtorrent reads the first of two equal keys, the `bencode` package and others
 * the last, so one info hash could name `harmless.txt` in one client and `evil.exe` in another. Inside `info`
 * (what the info hash identifies) a repeated key is refused; elsewhere the readers below keep the first, as
 * libtorrent does. The check costs nothing while keys come sorted (each is compared with the one before); at the
 * first key out of order, the dictionary's keys so far go into a set, and every later key is looked up there, so a
 * dictionary of n keys costs O(n) whatever their order.
 *
 * Readers (`valueAt`, `dictEntries`, `listItems`, `bytesOf`, `integerOf`) walk bytes the scanner accepted without
 * building a generic tree: a string is a `subarray` of the input, never a copy, so a torrent's 60 MB of piece
 * hashes stay the bytes read from the file. They trust the structure the scan checked (and still never read past
 * the end of the input).
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

/** Which dictionaries must not repeat a key (DUPLICATE_KEY). */
export type UniqueKeys =
  /** A .torrent: the top-level `info` dictionary and every dictionary inside it. */
  | 'info'
  /** Every dictionary (a bare info dictionary, as BEP 9 delivers it). */
  | 'all'
  | 'none'

export interface ScanOptions {
  readonly maxDepth?: number
  /** Default 'info'. */
  readonly uniqueKeys?: UniqueKeys
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
  /** Keys of this dictionary (and of the dictionaries inside this value) must be unique. */
  readonly unique: boolean
  /** Unique dictionaries: content ranges of the keys so far (start, end, …) while they come sorted. */
  keys: number[] | null
  /** Unique dictionaries, once a key came out of order: every key so far (latin1, one char per byte). */
  seen: Set<string> | null
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
  const uniqueKeys = options.uniqueKeys ?? 'info'
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
      if (top.unique) checkKey(buf, top, content, pos)
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
      // The top-level info value (the key just read was `info`), or anything inside a unique value.
      const unique = uniqueKeys === 'all' || (uniqueKeys === 'info' &&
        (top?.unique === true || (stack.length === 1 && infoStart === pos && info === null)))
      const dict = c === CHAR_D
      stack.push({ dict, keyNext: true, unique, keys: unique && dict ? [] : null, seen: null })
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

/** -1, 0 or 1 as the bytes at [a, aEnd) sort before, equal to or after those at [b, bEnd) (BEP 3 key order). */
function compareBytes (buf: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): number {
  const n = Math.min(aEnd - a, bEnd - b)
  for (let i = 0; i < n; i++) {
    const x = buf[a + i] as number
    const y = buf[b + i] as number
    if (x !== y) return x < y ? -1 : 1
  }
  return Math.sign((aEnd - a) - (bEnd - b))
}

function asBuffer (buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
}

/** The bytes at [start, end) as a string of one character per byte (no view allocated: this runs per key). */
function latin1 (buf: Uint8Array, start: number, end: number): string {
  return asBuffer(buf).toString('latin1', start, end)
}

const utf8 = new TextDecoder('utf-8')

/**
 * A string's bytes decoded as UTF-8 (invalid sequences become U+FFFD, as TextDecoder does). ASCII, what nearly
 * every key and file name is, is decoded without allocating a view.
 */
export function textOf (buf: Uint8Array, value: BencodeValue): string {
  for (let i = value.start; i < value.end; i++) {
    if ((buf[i] as number) >= 0x80) return utf8.decode(buf.subarray(value.start, value.end))
  }
  return latin1(buf, value.start, value.end)
}

/** Record the key at [start, end) of a unique dictionary, or throw DUPLICATE_KEY (see the module comment). */
function checkKey (buf: Uint8Array, frame: Frame, start: number, end: number): void {
  if (frame.seen === null) {
    const keys = frame.keys as number[]
    const n = keys.length
    const order = n === 0 ? 1 : compareBytes(buf, start, end, keys[n - 2] as number, keys[n - 1] as number)
    if (order > 0) {
      keys.push(start, end)
      return
    }
    if (order < 0) {
      // Out of order: from here on, a set of every key.
      frame.seen = new Set()
      for (let i = 0; i < n; i += 2) frame.seen.add(latin1(buf, keys[i] as number, keys[i + 1] as number))
      frame.keys = null
    }
  }
  const key = latin1(buf, start, end)
  if (frame.seen === null || frame.seen.has(key)) {
    const shown = JSON.stringify(new TextDecoder().decode(buf.subarray(start, Math.min(end, start + 64))))
    throw new ZentorrentError('DUPLICATE_KEY',
      `the key ${shown} appears twice in one dictionary inside info (at byte ${start}): clients disagree on which one counts`)
  }
  frame.seen.add(key)
}

// ---- readers ---------------------------------------------------------------------------------------------

/**
 * A value located in the bytes. `start`..`end` is its content: a string's bytes (after `N:`), an integer's
 * digits, a list's or dictionary's items (between the type byte and the closing `e`); `next` is the offset
 * just past the whole value.
 */
export interface BencodeValue {
  readonly type: BencodeType
  readonly start: number
  readonly end: number
  readonly next: number
}

/** The value that starts at `pos` of bytes the scanner accepted. Containers are walked to their end: O(their size). */
export function valueAt (buf: Uint8Array, pos: number): BencodeValue {
  const size = buf.length
  if (pos >= size) throw truncated(pos)
  const c = buf[pos] as number
  if (c === CHAR_I) {
    const end = buf.indexOf(CHAR_E, pos + 1)
    if (end < 0) throw truncated(size)
    return { type: 'int', start: pos + 1, end, next: end + 1 }
  }
  if (isDigit(c)) {
    const { start, end } = stringAt(buf, pos)
    return { type: 'string', start, end, next: end }
  }
  if (c !== CHAR_D && c !== CHAR_L) throw garbage(pos, `unexpected byte 0x${c.toString(16)}`)
  // Depth alone is enough to find the end of a container whose structure was checked; strings are skipped by
  // their length (their bytes may hold anything), integers to their `e`.
  let depth = 0
  let at = pos
  do {
    if (at >= size) throw truncated(at)
    const b = buf[at] as number
    if (b === CHAR_D || b === CHAR_L) {
      depth++
      at++
    } else if (b === CHAR_E) {
      depth--
      at++
    } else if (b === CHAR_I) {
      const end = buf.indexOf(CHAR_E, at + 1)
      if (end < 0) throw truncated(size)
      at = end + 1
    } else if (isDigit(b)) {
      at = stringAt(buf, at).end
    } else {
      throw garbage(at, `unexpected byte 0x${b.toString(16)}`)
    }
  } while (depth > 0)
  return { type: c === CHAR_D ? 'dict' : 'list', start: pos + 1, end: at - 1, next: at }
}

/** The content range of the string at `pos` (digits, `:`, bytes). */
function stringAt (buf: Uint8Array, pos: number): { start: number, end: number } {
  const size = buf.length
  let length = 0
  let at = pos
  for (;;) {
    if (at >= size) throw truncated(at)
    const c = buf[at] as number
    if (c === CHAR_COLON) break
    if (!isDigit(c) || at - pos >= MAX_LENGTH_DIGITS) throw garbage(at, 'bad string length')
    length = length * 10 + (c - CHAR_0)
    at++
  }
  const start = at + 1
  if (length > size - start) throw truncated(size)
  return { start, end: start + length }
}

/** The items of a list, in order, one at a time (a 100,000-file list is never held as an array of values). */
export function * listItems (buf: Uint8Array, list: BencodeValue): Generator<BencodeValue> {
  if (list.type !== 'list') return
  for (let at = list.start; at < list.end;) {
    const item = valueAt(buf, at)
    yield item
    at = item.next
  }
}

/**
 * A dictionary's entries by key (latin1: one character per byte, so any key bytes round-trip). Of two equal keys
 * the first is kept, as libtorrent does; inside `info` the scanner has refused them already.
 */
export function dictEntries (buf: Uint8Array, dict: BencodeValue): Map<string, BencodeValue> {
  const entries = new Map<string, BencodeValue>()
  if (dict.type !== 'dict') return entries
  for (let at = dict.start; at < dict.end;) {
    const key = stringAt(buf, at)
    const value = valueAt(buf, key.end)
    const name = latin1(buf, key.start, key.end)
    if (!entries.has(name)) entries.set(name, value)
    at = value.next
  }
  return entries
}

/**
 * The values of the given keys (ASCII) in a dictionary, in the order asked, undefined where absent; of two equal
 * keys the first. No key is decoded into a string: this is the reader for a list of 100,000 small dictionaries.
 */
export function dictValues (buf: Uint8Array, dict: BencodeValue, keys: readonly string[]): Array<BencodeValue | undefined> {
  const found = new Array<BencodeValue | undefined>(keys.length).fill(undefined)
  if (dict.type !== 'dict') return found
  for (let at = dict.start; at < dict.end;) {
    const key = stringAt(buf, at)
    const value = valueAt(buf, key.end)
    for (let k = 0; k < keys.length; k++) {
      if (found[k] === undefined && asciiEquals(buf, key.start, key.end, keys[k] as string)) {
        found[k] = value
        break
      }
    }
    at = value.next
  }
  return found
}

function asciiEquals (buf: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false
  for (let i = 0; i < text.length; i++) if (buf[start + i] !== text.charCodeAt(i)) return false
  return true
}

/** A string's bytes: a view of `buf`, not a copy. */
export function bytesOf (buf: Uint8Array, value: BencodeValue): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + value.start, value.end - value.start)
}

/**
 * An integer's value as a Number. Leading zeros and `-0` read as libtorrent reads them; past 2^53 the value is
 * approximate, and `Number.isSafeInteger` is false for it, which is how callers refuse it.
 */
export function integerOf (buf: Uint8Array, value: BencodeValue): number {
  const n = Number(latin1(buf, value.start, value.end))
  return n === 0 ? 0 : n
}
