/**
 * What to answer a GET/HEAD of a file of `length` bytes (pure), following RFC 9110 §13–14:
 *
 * - Validators: the ETag is strong and derived from the info hash and the file index ("<info hash hex>-<index>"):
 *   a torrent's bytes never change under the same info hash. `If-None-Match` naming it (or `*`) → 304.
 * - `Range` (parsed by `range-parser`, overlapping ranges combined) is honoured only for the `bytes` unit (another
 *   unit is ignored: 200) and only when `If-Range`, if present, names our ETag (a date or another tag: the client's
 *   copy may differ, so the whole file, 200).
 * - One range → 206 with `Content-Range`. Unsatisfiable (it starts past the end; any range of an empty file) or
 *   syntactically invalid → 416 with `Content-Range: bytes *\/length`. Several ranges → 416 as well: only single
 *   ranges are served (RFC 9110 §15.5.17 lets a server reject "an excessive request of small or overlapping
 *   ranges"; multipart/byteranges answers are a cost no player needs).
 */
import parseRange from 'range-parser'

export type RangeAnswer =
  | { readonly status: 200, readonly start: number, readonly end: number }
  | { readonly status: 206, readonly start: number, readonly end: number }
  | { readonly status: 304 }
  | { readonly status: 416, readonly reason: string }

export interface RangeRequest {
  readonly range?: string | undefined
  readonly ifRange?: string | undefined
  readonly ifNoneMatch?: string | undefined
}

/** The strong ETag of file `index` of the torrent with this info hash. */
export function fileEtag (infoHash: Buffer, index: number): string {
  return `"${infoHash.toString('hex')}-${index}"`
}

/** `end` is inclusive; for a 200 of an empty file, `end` is -1. */
export function answerRange (length: number, etag: string, request: RangeRequest): RangeAnswer {
  if (request.ifNoneMatch !== undefined && matchesAny(request.ifNoneMatch, etag, true)) return { status: 304 }
  const whole = { status: 200, start: 0, end: length - 1 } as const
  const header = request.range
  if (header === undefined || header === '') return whole
  if (request.ifRange !== undefined && request.ifRange.trim() !== etag) return whole
  if (!/^\s*bytes\s*=/i.test(header)) return whole // another unit: ignored
  const ranges = parseRange(length, header.replace(/^\s*bytes\s*=/i, 'bytes='), { combine: true })
  if (ranges === -1) return { status: 416, reason: `the range is outside the file (${length} bytes)` }
  if (ranges === -2) return { status: 416, reason: 'the Range header is not valid' }
  if (ranges.length !== 1) return { status: 416, reason: 'only one range per request is served' }
  const [range] = ranges
  return { status: 206, start: range!.start, end: range!.end }
}

/** Whether an If-None-Match / If-Match list names `etag` (weak comparison when `weak`). */
function matchesAny (list: string, etag: string, weak: boolean): boolean {
  if (list.trim() === '*') return true
  const bare = (tag: string): string => weak ? tag.replace(/^W\//, '') : tag
  return list.split(',').some((tag) => bare(tag.trim()) === bare(etag))
}
