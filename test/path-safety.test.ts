import t from 'tap'
import { join, resolve } from 'node:path'
import { checkName, checkPath, checkUnique, componentProblem, resolveInside } from '../lib/path-safety.js'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'

function codeOf (fn: () => unknown): ErrorCode | 'no error' | 'untyped' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isZentorrentError(err) ? err.code : 'untyped'
  }
}

t.test('components that could leave the root are PATH_ESCAPES_ROOT', async (t) => {
  for (const c of ['..', '/etc/passwd', '/', '\\windows', 'C:', 'c:\\boot.ini', 'Z:foo', 'x:y']) {
    t.equal(componentProblem(c)?.code, 'PATH_ESCAPES_ROOT', JSON.stringify(c))
  }
})

t.test('ambiguous components are BAD_PATH', async (t) => {
  for (const c of ['', '.', 'a/b', 'a\\b', 'a\0b', '..\\x', 'x/..']) {
    t.equal(componentProblem(c)?.code, 'BAD_PATH', JSON.stringify(c))
  }
})

t.test('ordinary names are accepted, dots and colons inside included', async (t) => {
  for (const c of ['a', '...', '..a', 'a..', '.hidden', 'file.tar.gz', 'ab:c', 'track 1: intro', ' spaced ', 'ünïcødé', '1']) {
    t.equal(componentProblem(c), null, JSON.stringify(c))
  }
})

t.test('the torrent name gets BAD_NAME, or PATH_ESCAPES_ROOT when it climbs out', async (t) => {
  t.equal(codeOf(() => checkName('..')), 'PATH_ESCAPES_ROOT')
  t.equal(codeOf(() => checkName('/tmp')), 'PATH_ESCAPES_ROOT')
  t.equal(codeOf(() => checkName('.')), 'BAD_NAME')
  t.equal(codeOf(() => checkName('')), 'BAD_NAME')
  t.equal(codeOf(() => checkName('a/b')), 'BAD_NAME')
  t.equal(codeOf(() => checkName('nul\0')), 'BAD_NAME')
  t.equal(codeOf(() => checkName('Ubuntu 24.04')), 'no error')
})

t.test('file paths: every component is checked, and an empty path is BAD_PATH', async (t) => {
  t.equal(codeOf(() => checkPath([])), 'BAD_PATH')
  t.equal(codeOf(() => checkPath(['a', '..', 'b'])), 'PATH_ESCAPES_ROOT')
  t.equal(codeOf(() => checkPath(['a', ''])), 'BAD_PATH')
  t.equal(codeOf(() => checkPath(['a', 'b/c'])), 'BAD_PATH')
  t.equal(codeOf(() => checkPath(['a', 'b', 'c.txt'])), 'no error')
})

t.test('two files on one path, or a file under another file, are DUPLICATE_PATH; pad files are exempt', async (t) => {
  const f = (path: string, pad = false): { path: string[], pad: boolean } => ({ path: path.split('/'), pad })
  t.equal(codeOf(() => checkUnique([f('t/a'), f('t/a')])), 'DUPLICATE_PATH')
  t.equal(codeOf(() => checkUnique([f('t/a'), f('t/a/b')])), 'DUPLICATE_PATH')
  t.equal(codeOf(() => checkUnique([f('t/a/b'), f('t/a')])), 'DUPLICATE_PATH')
  t.equal(codeOf(() => checkUnique([f('t/a'), f('t/A'), f('t/b/a')])), 'no error', 'case differs: left to the sink')
  t.equal(codeOf(() => checkUnique([f('t/a'), f('t/.pad/100', true), f('t/b'), f('t/.pad/100', true)])), 'no error')
})

t.test('resolveInside joins below the root and refuses anything that would leave it', async (t) => {
  const root = resolve('/tmp/zentorrent-root')
  t.equal(resolveInside(root, ['t', 'a.txt']), join(root, 't', 'a.txt'))
  t.equal(resolveInside(`${root}/`, ['t']), join(root, 't'))
  t.equal(codeOf(() => resolveInside(root, ['..', 'x'])), 'PATH_ESCAPES_ROOT')
  t.equal(codeOf(() => resolveInside(root, ['/etc/passwd'])), 'PATH_ESCAPES_ROOT')
  t.equal(codeOf(() => resolveInside(root, ['C:'])), 'PATH_ESCAPES_ROOT')
  t.equal(codeOf(() => resolveInside(root, ['a/../../x'])), 'BAD_PATH')
  t.equal(codeOf(() => resolveInside(root, [])), 'BAD_PATH', 'the root itself is not a file')
  t.equal(codeOf(() => resolveInside(root, ['a\0'])), 'BAD_PATH')
})
