/**
 * The HTTP server's URL space (pure). Files are addressed by index; the file's path follows only for readability
 * (players show it, and guess a type from its extension) and must then be the file's own. Nothing in a URL is ever
 * used as a file-system path.
 *
 *   /                 the index as HTML (also /index.html)
 *   /index.json       the index as JSON
 *   /playlist.m3u     an M3U playlist of the media files (also /playlist.m3u8)
 *   /files/N          file N of the torrent; /files/N/<its path, segments percent-encoded> the same
 *
 * Refused with 400: a target that is not an absolute path, a segment that does not percent-decode, or that decodes
 * to `.` or `..`, or holds NUL, `/` or `\`, an empty segment inside the path. 404: anything else that is not one of
 * the above (an unknown index, a padding file, a path that is not the file's). The query string is ignored.
 */
export type Route =
  | { readonly kind: 'index-html' }
  | { readonly kind: 'index-json' }
  | { readonly kind: 'playlist' }
  | { readonly kind: 'file', readonly index: number }
  | { readonly kind: 'error', readonly status: 400 | 404, readonly message: string }

/** What routing needs of a file. */
export interface RoutedFile {
  /** '/'-separated path within the torrent (the first component is the torrent's name for multi-file torrents). */
  readonly path: string
  readonly pad?: boolean
}

/** Longest request target looked at (node's own limit on the request line and headers is 16 KiB). */
export const MAX_TARGET_LENGTH = 8192

export function route (target: string, files: readonly RoutedFile[]): Route {
  if (target.length > MAX_TARGET_LENGTH) return bad('the URL is too long')
  const end = target.search(/[?#]/)
  const path = end < 0 ? target : target.slice(0, end)
  if (!path.startsWith('/')) return bad('the URL must be a path')
  const raw = path.slice(1).split('/')
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop() // one trailing slash is fine
  const segments: string[] = []
  for (const part of raw) {
    let segment: string
    try {
      segment = decodeURIComponent(part)
    } catch {
      return bad('the URL is not valid percent-encoding')
    }
    if (segment === '.' || segment === '..') return bad('the URL holds a dot segment')
    if (/[\0/\\]/.test(segment)) return bad('the URL holds NUL, an encoded slash or a backslash')
    segments.push(segment)
  }
  if (segments.length > 1 && segments.includes('')) return bad('the URL holds an empty segment')
  const [first, second, ...rest] = segments
  if (segments.length === 1 && (first === '' || first === 'index.html')) return { kind: 'index-html' }
  if (segments.length === 1 && first === 'index.json') return { kind: 'index-json' }
  if (segments.length === 1 && (first === 'playlist.m3u' || first === 'playlist.m3u8')) return { kind: 'playlist' }
  if (first === 'files' && second !== undefined && /^(0|[1-9][0-9]{0,8})$/.test(second)) {
    const index = Number(second)
    const file = files[index]
    if (file === undefined || file.pad === true) return notFound(`no file ${index} in this torrent`)
    if (rest.length > 0 && rest.join('/') !== file.path) return notFound(`file ${index} is ${file.path}, not ${rest.join('/')}`)
    return { kind: 'file', index }
  }
  return notFound('nothing here: see / for the files')
}

/** The URL path of file `index` (its path percent-encoded segment by segment). */
export function fileHref (index: number, file: RoutedFile): string {
  return `/files/${index}/${file.path.split('/').map(encodeURIComponent).join('/')}`
}

function bad (message: string): Route { return { kind: 'error', status: 400, message } }
function notFound (message: string): Route { return { kind: 'error', status: 404, message } }
