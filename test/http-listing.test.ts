/** The index of files as JSON and HTML, and the M3U playlist (lib/http/listing.ts). */
import t from 'tap'
import { contentType, indexHtml, indexJson, isMedia, playlistM3u, type Listing } from '../lib/http/listing.js'

const listing: Listing = {
  name: 'a <show>',
  infoHash: 'ab'.repeat(20),
  files: [
    { index: 0, path: 'a <show>/ep1.mp4', name: 'ep1.mp4', length: 1000, downloaded: 500 },
    { index: 1, path: 'a <show>/.pad/1', name: '1', length: 10, downloaded: 0, pad: true },
    { index: 2, path: 'a <show>/notes "x".txt', name: 'notes "x".txt', length: 0, downloaded: 0 },
    { index: 3, path: 'a <show>/song\nbreak.flac', name: 'song\nbreak.flac', length: 20, downloaded: 20 },
    { index: 4, path: 'a <show>/ep2.ts', name: 'ep2.ts', length: 20, downloaded: 0 }
  ]
}

t.test('types by extension; media is audio or video', async (t) => {
  t.equal(contentType('x.mp4'), 'video/mp4')
  t.equal(contentType('x.mkv'), 'video/x-matroska')
  t.equal(contentType('noextension'), 'application/octet-stream')
  t.ok(isMedia('x.ts'), 'MPEG-TS')
  t.ok(isMedia('x.flac'))
  t.notOk(isMedia('x.txt'))
})

t.test('the JSON index lists every file but padding, with its URL and progress', async (t) => {
  const json = indexJson(listing)
  t.same(json.files.map((f) => f.index), [0, 2, 3, 4])
  t.same(json.files[0], { index: 0, path: 'a <show>/ep1.mp4', name: 'ep1.mp4', length: 1000, downloaded: 500, type: 'video/mp4', url: '/files/0/a%20%3Cshow%3E/ep1.mp4' })
  t.equal(json.infoHash, 'ab'.repeat(20))
})

t.test('the HTML index escapes names', async (t) => {
  const html = indexHtml(listing)
  t.notMatch(html, /<show>/, 'no raw markup from a name')
  t.match(html, /a &lt;show&gt;/)
  t.match(html, /notes &quot;x&quot;\.txt/)
  t.match(html, /href="\/files\/0\/a%20%3Cshow%3E\/ep1\.mp4"/)
  t.match(html, /50 %/, 'progress')
})

t.test('the playlist holds the media files only, by absolute URL, one line each', async (t) => {
  const m3u = playlistM3u(listing, 'http://127.0.0.1:8888')
  t.equal(m3u, [
    '#EXTM3U',
    '#EXTINF:-1,a <show>/ep1.mp4',
    'http://127.0.0.1:8888/files/0/a%20%3Cshow%3E/ep1.mp4',
    '#EXTINF:-1,a <show>/song break.flac',
    'http://127.0.0.1:8888/files/3/a%20%3Cshow%3E/song%0Abreak.flac',
    '#EXTINF:-1,a <show>/ep2.ts',
    'http://127.0.0.1:8888/files/4/a%20%3Cshow%3E/ep2.ts',
    ''
  ].join('\n'))
})
