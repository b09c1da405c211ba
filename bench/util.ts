/**
 * What the benchmarks share: where the project and its Python peers are, a large random file and its SHA1,
 * the median of a run's measurements, and the entry point's error report.
 */
import { open } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (benchmarks run from dist/bench/). */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const PYTHON = '/usr/bin/python3'
export const MiB = 1024 * 1024
/**
 * The runtime settings bin/zentorrent.ts's shebang gives the CLI (test/cli-shebang.test.ts keeps the two equal), for
 * benchmarks that spawn Node directly but mean to run what a user runs: glibc's malloc environment and V8 flags.
 */
export const CLI_RUNTIME = {
  env: { MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: '8388608' },
  nodeFlags: ['--max-semi-space-size=1', '--liftoff-only']
} as const

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** `bytes` of random data at `path`, written in 8 MiB chunks (each a cheap variation of one random block). */
export async function writeRandomFile (path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w')
  const chunk = 8 * MiB
  const seed = randomBytes(chunk)
  for (let written = 0; written < bytes; written += chunk) {
    seed[written / chunk % chunk] ^= 0xff // every chunk different, cheaply
    await handle.write(seed, 0, Math.min(chunk, bytes - written), written)
  }
  await handle.close()
}

export async function sha1File (path: string): Promise<string> {
  const hash = createHash('sha1')
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Run a benchmark's main; a failure is reported on stderr and sets exit status 1. */
export function runMain (main: () => Promise<void>): void {
  main().catch((err: unknown) => { process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exitCode = 1 })
}
