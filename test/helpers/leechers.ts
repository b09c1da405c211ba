/**
 * Helpers for the upload tests: seeded data plus its .torrent in a temp dir, third-party leechers (libtorrent
 * through test/helpers/leechers.py, aria2c) run as child processes with a deadline and a SIGKILL fallback, and a
 * byte-for-byte comparison of two trees.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { access, readFile, writeFile } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTorrent } from '../../lib/create.js'
import { parseMetainfo, type Metainfo } from '../../lib/metainfo.js'
import { writeTree } from './create-fixtures.js'
import { ARIA2_REQUIRE_CRYPTO } from './seeders.js'

export const PYTHON = '/usr/bin/python3'
export const ARIA2C = process.env.ARIA2C ?? '/usr/bin/aria2c'
const LEECHER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'leechers.py')

export interface Fixture {
  /** The directory holding the torrent's content (a seeder's output dir). */
  dir: string
  torrentPath: string
  meta: Metainfo
  /** Paths inside `dir` of every file, as the torrent lays them out. */
  files: string[]
}

/**
 * Seeded content named `name` under `root/seed`: one file when `files` has the single key '' (then `name` is the
 * file), else a directory `name` holding `files`. The .torrent is made by our createTorrent.
 */
export async function makeFixture (root: string, name: string, files: Record<string, number>,
  opts: { pieceLength: number, announce?: string, seed?: number }): Promise<Fixture> {
  const dir = join(root, 'seed')
  const single = Object.keys(files).length === 1 && '' in files
  const tree = single ? { [name]: files[''] ?? 0 } : Object.fromEntries(Object.entries(files).map(([p, n]) => [`${name}/${p}`, n]))
  await writeTree(dir, tree, opts.seed ?? 7)
  const bytes = await createTorrent(join(dir, name), {
    pieceLength: opts.pieceLength,
    creationDate: null,
    ...(opts.announce !== undefined ? { announce: opts.announce } : {})
  })
  const torrentPath = join(root, `${name}.torrent`)
  await writeFile(torrentPath, bytes)
  return { dir, torrentPath, meta: parseMetainfo(bytes), files: Object.keys(tree) }
}

/** Every file of the fixture, compared byte for byte with its copy under `other`; returns the mismatches. */
export async function differences (fixture: Fixture, other: string): Promise<string[]> {
  const bad: string[] = []
  for (const path of fixture.files) {
    const want = await readFile(join(fixture.dir, path))
    let got: Buffer
    try { got = await readFile(join(other, path)) } catch { bad.push(`${path}: missing`); continue }
    if (!want.equals(got)) bad.push(`${path}: ${got.length} bytes differ from the ${want.length} expected`)
  }
  return bad
}

export async function requireExecutable (path: string, install: string): Promise<void> {
  try {
    await access(path, constants.X_OK)
  } catch {
    throw new Error(`${path} is missing: ${install}`)
  }
}

export interface Finished { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/**
 * Run a child to completion within `timeoutMs` (then SIGTERM, and SIGKILL a second later); the test's teardown
 * kills it too if the test ends first.
 */
export async function runChild (t: { teardown: (fn: () => unknown) => void }, command: string, args: string[],
  timeoutMs: number): Promise<Finished> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { kill(child) })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => kill(child), timeoutMs)
  return await new Promise((resolve, reject) => {
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

export function kill (child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }, 1000)
  timer.unref()
}

/**
 * libtorrent downloads `torrentPath` into `save` from 127.0.0.1:`port` only. `encryption: 'forced'`: MSE/PE
 * both ways with RC4 only (libtorrent's enc_policy.forced, enc_level.rc4). `rate`: at most this many bytes a
 * second (a slow reader).
 */
export async function libtorrentLeech (t: { teardown: (fn: () => unknown) => void }, torrentPath: string, save: string,
  port: number, timeoutMs = 30_000, opts: { encryption?: 'forced', rate?: number } = {}): Promise<Finished> {
  await requireExecutable(PYTHON, 'apt-get install python3-libtorrent')
  const args = [LEECHER_SCRIPT, torrentPath, save, String(port), String(timeoutMs / 1000)]
  if (opts.encryption === 'forced') args.push('forced')
  if (opts.rate !== undefined) args.push(`rate=${opts.rate}`)
  return await runChild(t, PYTHON, args, timeoutMs + 5000)
}

/**
 * aria2c downloads `torrentPath` into `save`, finding peers through the torrent's tracker, and exits.
 * `encryption: 'require'`: MSE/PE only, RC4 only (`--bt-require-crypto=true --bt-min-crypto-level=arc4`).
 */
export async function aria2Leech (t: { teardown: (fn: () => unknown) => void }, torrentPath: string, save: string,
  timeoutMs = 30_000, opts: { encryption?: 'require' } = {}): Promise<Finished> {
  await requireExecutable(ARIA2C, 'apt-get install aria2')
  return await runChild(t, ARIA2C, [
    '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
    '--seed-time=0', '--bt-external-ip=127.0.0.1', '--disable-ipv6=true',
    '--console-log-level=warn', '--summary-interval=0', '--file-allocation=none',
    `--stop=${Math.ceil(timeoutMs / 1000)}`, `--dir=${save}`,
    ...(opts.encryption === 'require' ? ARIA2_REQUIRE_CRYPTO : []),
    torrentPath
  ], timeoutMs + 5000)
}
