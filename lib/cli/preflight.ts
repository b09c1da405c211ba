/**
 * Checks a command makes before it starts, so a mistake is an exit-2 error with a sentence, not a silent fallback
 * or a failure minutes later:
 *
 * - `checkListenable(host, port)`: the port the user asked for (`-p`) can be listened on. It binds a throwaway
 *   server and closes it. The listener (lib/listener.ts) still falls back to any port if the port is taken in
 *   the moment between this check and its own listen; a listener option that refuses to fall back removes
 *   that window (see the report to the lead).
 * - `checkOutputDirectory(dir, flag)`: the output directory is a directory we may write, or can be created under
 *   a writable ancestor. Checked with access(W_OK), which answers EROFS on a read-only file system (a recursive
 *   mkdir there answers ENOENT, which misled users).
 */
import { createServer } from 'node:net'
import { access, stat } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ZentorrentError, fromFsError } from '../errors.js'

/** Resolves if `host:port` can be listened on now; else a PORT_IN_USE, PERMISSION_DENIED or BAD_ARGUMENT error. */
export async function checkListenable (host: string, port: number): Promise<void> {
  const server = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port, exclusive: true }, () => resolve())
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') {
      throw new ZentorrentError('PORT_IN_USE', `port ${port} on ${host} is in use by another program (choose another with -p PORT, or -p 0 for any free port)`, { cause: err })
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ZentorrentError('PERMISSION_DENIED', `port ${port} needs privileges this user lacks (ports below 1024 do; choose another with -p PORT)`, { cause: err })
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EINVAL') {
      throw new ZentorrentError('BAD_ARGUMENT', `--bind ${host}: not an address of this machine (try 0.0.0.0, or 127.0.0.1 for this machine only)`, { cause: err })
    }
    throw new ZentorrentError('BAD_ARGUMENT', `cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err })
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

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
