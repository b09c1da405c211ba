/** The HTTP server's URL space (lib/http/routes.ts): what each URL names, and hostile ones refused cleanly. */
import t from 'tap'
import { route, fileHref, MAX_TARGET_LENGTH } from '../lib/http/routes.js'

const files = [
  { path: 'show/episode 1.mp4' },
  { path: 'show/.pad/123', pad: true },
  { path: 'show/sub/ünïcode #1?.srt' }
]

t.test('the index, the JSON index, the playlist and files by index', async (t) => {
  t.same(route('/', files), { kind: 'index-html' })
  t.same(route('/index.html', files), { kind: 'index-html' })
  t.same(route('/index.json?x=1', files), { kind: 'index-json' }, 'the query string is ignored')
  t.same(route('/playlist.m3u', files), { kind: 'playlist' })
  t.same(route('/playlist.m3u8', files), { kind: 'playlist' })
  t.same(route('/files/0', files), { kind: 'file', index: 0 })
  t.same(route('/files/0/', files), { kind: 'file', index: 0 })
  t.same(route('/files/2/show/sub/%C3%BCn%C3%AFcode%20%231%3F.srt', files), { kind: 'file', index: 2 })
})

t.test('fileHref round-trips through route for every file', async (t) => {
  for (const [i, f] of files.entries()) {
    if (f.pad === true) continue
    t.same(route(fileHref(i, f), files), { kind: 'file', index: i }, fileHref(i, f))
  }
  t.equal(fileHref(2, files[2]!), '/files/2/show/sub/%C3%BCn%C3%AFcode%20%231%3F.srt')
})

t.test('unknown indexes, padding files and a path that is not the file\'s are 404', async (t) => {
  for (const target of ['/files/3', '/files/1', '/files/0/show/other.mp4', '/files/00', '/files/-1', '/files/1e3', '/nothing', '/files', '/files/99999999999']) {
    const r = route(target, files)
    t.equal(r.kind === 'error' ? r.status : 0, 404, target)
  }
})

t.test('hostile targets are 400: dot segments, NUL, encoded slashes, bad escapes, empty segments, not a path, too long', async (t) => {
  const hostile = [
    '/files/0/../1', '/files/0/%2e%2e/1', '/%2E%2E/%2E%2E/etc/passwd', '/files/./0', '/files/0/show%2fepisode',
    '/files/0/show%5cx', '/files/0/a%00b', '/files/0/%E0%A4%A', '/files/0/%', '/files//0', '//etc/passwd',
    'files/0', 'http://example/files/0', '*', '/' + 'a'.repeat(MAX_TARGET_LENGTH)
  ]
  for (const target of hostile) {
    const r = route(target, files)
    t.equal(r.kind === 'error' ? r.status : 0, 400, JSON.stringify(target.slice(0, 40)))
  }
})
