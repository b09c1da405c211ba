/**
 * The server's index of files, as JSON, as HTML and as an M3U playlist of the media files (pure: text from a
 * description of the torrent). Types come from the `mime` package (by extension); a file counts as media when its
 * type is audio/* or video/*, or it is an MPEG transport stream. Names are escaped for HTML and stripped of line
 * breaks for M3U (a file name may hold any character but `/` and NUL).
 */
import mime from 'mime'
import { fileHref, type RoutedFile } from './routes.js'

export interface ListedFile extends RoutedFile {
  readonly index: number
  readonly name: string
  readonly length: number
  /** Bytes of it on disk and verified. */
  readonly downloaded: number
}

export interface Listing {
  readonly name: string
  readonly infoHash: string
  readonly files: readonly ListedFile[]
}

export const DEFAULT_TYPE = 'application/octet-stream'

export function contentType (name: string): string {
  return mime.getType(name) ?? DEFAULT_TYPE
}

export function isMedia (name: string): boolean {
  const type = contentType(name)
  return type.startsWith('video/') || type.startsWith('audio/')
}

export interface IndexJson {
  name: string
  infoHash: string
  files: Array<{ index: number, path: string, name: string, length: number, downloaded: number, type: string, url: string }>
  playlist: string
}

export function indexJson (listing: Listing): IndexJson {
  return {
    name: listing.name,
    infoHash: listing.infoHash,
    files: visible(listing).map((f) => ({
      index: f.index,
      path: f.path,
      name: f.name,
      length: f.length,
      downloaded: f.downloaded,
      type: contentType(f.name),
      url: fileHref(f.index, f)
    })),
    playlist: '/playlist.m3u'
  }
}

export function indexHtml (listing: Listing): string {
  const rows = visible(listing).map((f) =>
    `<tr><td>${f.index}</td><td><a href="${escapeHtml(fileHref(f.index, f))}">${escapeHtml(f.path)}</a></td>` +
    `<td>${f.length}</td><td>${f.length === 0 ? 100 : Math.floor(f.downloaded / f.length * 100)} %</td><td>${escapeHtml(contentType(f.name))}</td></tr>`)
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(listing.name)}</title></head>
<body>
<h1>${escapeHtml(listing.name)}</h1>
<p>info hash ${escapeHtml(listing.infoHash)} · <a href="/playlist.m3u">playlist of the media files</a> · <a href="/index.json">as JSON</a></p>
<table>
<thead><tr><th>#</th><th>file</th><th>bytes</th><th>have</th><th>type</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</body></html>
`
}

/** An extended M3U of the media files, each by its absolute URL under `base` (e.g. http://127.0.0.1:8888). */
export function playlistM3u (listing: Listing, base: string): string {
  const lines = ['#EXTM3U']
  for (const f of visible(listing)) {
    if (!isMedia(f.name)) continue
    lines.push(`#EXTINF:-1,${f.path.replace(/[\r\n]/g, ' ')}`, base + fileHref(f.index, f))
  }
  return lines.join('\n') + '\n'
}

function visible (listing: Listing): ListedFile[] {
  return listing.files.filter((f) => f.pad !== true)
}

export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}
