/**
 * Checks a command makes before it starts, so a mistake is an exit-2 error with a sentence, not a silent fallback
 * or a failure minutes later:
 *
 * - `checkOutputDirectory(dir, flag)`: the output directory is a directory we may write, or can be created under
 *   a writable ancestor. Checked with access(W_OK), which answers EROFS on a read-only file system (a recursive
 *   mkdir there answers ENOENT, which misled users).
 */
import { access, stat } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ZentorrentError, fromFsError } from '../errors.js'

/** Resolves if `dir` is, or can be made as, a writable directory; `flag` names the option in messages. */
export async function checkOutputDirectory (dir: string, flag = '-o'): Promise<void> {
  let existing = resolve(dir)
  for (;;) {
    try {
      const info = await stat(existing)
      if (!info.isDirectory()) {
        throw new ZentorrentError('BAD_ARGUMENT', existing === resolve(dir)
          ? `${flag} ${dir}: that is a file, not a directory`
          : `${flag} ${dir}: ${existing} is a file, not a directory`)
      }
      break
    } catch (err) {
      if (err instanceof ZentorrentError) throw err
      const code = (err as NodeJS.ErrnoException).code
      // ENOTDIR: a file on the way; walking up finds it and says so
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fromFsError(err, dir)
      const parent = dirname(existing)
      if (parent === existing) throw fromFsError(err, dir)
      existing = parent
    }
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK)
  } catch (err) {
    const typed = fromFsError(err, existing)
    throw new ZentorrentError(typed.code, `cannot write into ${flag} ${dir}: ${typed.message}`, { cause: err })
  }
}
