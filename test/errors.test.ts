/**
 * lib/errors.ts fromFsError: each errno a user meets becomes a typed error with a sentence; a recursive mkdir on
 * a read-only file system (which Node reports as ENOENT) is told apart and reported as READ_ONLY.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fromFsError, isZentorrentError } from '../lib/errors.js'
import { tempDir } from './helpers/temp.js'

function errno (code: string, syscall = 'open', path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, ${syscall}`), { code, syscall, ...(path !== undefined ? { path } : {}) })
}

t.test('errno → code and sentence', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['ENOSPC', 'DISK_FULL', /^disk full while writing \/x\/f \(free some space, then run the same command again: it resumes\)$/],
    ['EDQUOT', 'DISK_FULL', /disk full/],
    ['EROFS', 'READ_ONLY', /^\/x\/f is on a read-only file system \(choose a writable place\)$/],
    ['EACCES', 'PERMISSION_DENIED', /^permission denied: \/x\/f \(check its owner and mode, or choose another place\)$/],
    ['EPERM', 'PERMISSION_DENIED', /permission denied/],
    ['ENOTDIR', 'IO_ERROR', /^cannot use \/x\/f: a part of that path is a file, not a directory$/],
    ['EISDIR', 'IO_ERROR', /^\/x\/f is a directory, where a file was expected$/],
    ['EMFILE', 'IO_ERROR', /ulimit -n/],
    ['EIO', 'IO_ERROR', /input\/output error on \/x\/f/],
    ['ENOENT', 'IO_ERROR', /^no such file or directory: \/x\/f$/],
    ['EWEIRD', 'IO_ERROR', /^cannot access \/x\/f: EWEIRD: something/]
  ]
  for (const [code, typed, message] of cases) {
    const err = fromFsError(errno(code), '/x/f')
    t.ok(isZentorrentError(err, typed as never), `${code} → ${typed}`)
    t.match(err.message, message, code)
    t.equal((err.cause as NodeJS.ErrnoException).code, code, 'the cause is kept')
  }
  t.equal(fromFsError('not an error', '/p').code, 'IO_ERROR')
})

t.test('ENOENT from mkdir under a writable directory stays ENOENT (IO_ERROR)', async (t) => {
  const dir = await tempDir(t, 'errors')
  const err = fromFsError(errno('ENOENT', 'mkdir', join(dir, 'a')), join(dir, 'a', 'f'))
  t.equal(err.code, 'IO_ERROR')
})

t.test('ENOENT from a recursive mkdir on a read-only file system is READ_ONLY', { timeout: 30_000 }, async (t) => {
  t.equal(spawnSync('unshare', ['-m', 'true']).status, 0, 'needs `unshare -m` (root): must run, not skip')
  const dir = await tempDir(t, 'errors-ro')
  const ro = join(dir, 'ro')
  await mkdir(ro)
  const errors = new URL('../lib/errors.ts', import.meta.url).pathname
  const fse = new URL('../node_modules/fs-extra/lib/index.js', import.meta.url).pathname
  // The same mkdir as lib/storage.ts (fs-extra ensureDir), inside a namespace where `ro` is a read-only tmpfs.
  const script = `
    import { fromFsError } from '${errors}'
    import fse from '${fse}'
    const target = '${join(ro, 'a', 'b')}'
    try { await fse.ensureDir(target); console.log('made') } catch (err) {
      const typed = fromFsError(err, target + '/f.bin')
      console.log(JSON.stringify({ errno: err.code, code: typed.code, message: typed.message }))
    }`
  const loader = new URL('../node_modules/@tapjs/typescript/dist/esm/import.mjs', import.meta.url).href
  const run = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o ro,size=1m tmpfs '${ro}' && exec "$@"`, 'sh',
    process.execPath, `--import=${loader}`, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
  t.equal(run.status, 0, run.stderr)
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { errno: string, code: string, message: string }
  t.equal(result.errno, 'ENOENT', 'Node reports ENOENT here (the bug being worked around)')
  t.equal(result.code, 'READ_ONLY')
  t.match(result.message, /is on a read-only file system/)
})
