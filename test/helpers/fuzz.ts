/**
 * The fuzz suite's harness (test/fuzz-*.test.ts), on fast-check.
 *
 * - CI runs each property a bounded number of times (the `ci` count a test gives: the whole suite takes seconds);
 *   `npm run fuzz` sets FUZZ_RUNS (runs per property) and FUZZ_SAVE=1 for long sessions. FUZZ_SEED replays a seed.
 * - Every input that ever failed is kept in fixtures/fuzz/<target>/ (one JSON file each) and replayed first by the
 *   test of that target, so a fixed bug stays fixed. With FUZZ_SAVE=1 a new failure is written there (shrunk by
 *   fast-check to a small input) before the test fails; commit it with the fix.
 * - `noHang(fn)` runs synchronous code under a deadline (node:vm's `timeout` stops any JavaScript running on the
 *   thread, an endless loop included), so a hang is a failing input like any other: shrunk, reported and saved.
 */
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createContext, Script } from 'node:vm'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { isZentorrentError } from '../../lib/errors.js'

export { fc }

const FIXTURES = fileURLToPath(new URL('../../fixtures/fuzz/', import.meta.url))

/** Runs per property: FUZZ_RUNS when set, else the test's CI count. */
export function runs (ci: number): number {
  const env = Number(process.env.FUZZ_RUNS)
  return Number.isInteger(env) && env > 0 ? env : ci
}

/** A JSON-safe form of an input, and back (Buffers as base64). */
export interface Codec<T> {
  save: (input: T) => unknown
  load: (json: unknown) => T
}

export const bytesCodec: Codec<Uint8Array> = {
  save: (input) => Buffer.from(input).toString('base64'),
  load: (json) => new Uint8Array(Buffer.from(json as string, 'base64'))
}

/** The saved failures of `target`, oldest first. */
export function savedInputs<T> (target: string, codec: Codec<T>): Array<{ name: string, input: T }> {
  let names: string[]
  try {
    names = readdirSync(join(FIXTURES, target)).filter((n) => n.endsWith('.json')).sort()
  } catch {
    return []
  }
  return names.map((name) => ({ name, input: codec.load(JSON.parse(readFileSync(join(FIXTURES, target, name), 'utf8')).input) }))
}

function save<T> (target: string, codec: Codec<T>, input: T, error: string): string {
  const json = JSON.stringify({ target, error: error.slice(0, 500), input: codec.save(input) }, null, 1)
  const name = `${createHash('sha1').update(json).digest('hex').slice(0, 12)}.json`
  mkdirSync(join(FIXTURES, target), { recursive: true })
  writeFileSync(join(FIXTURES, target, name), json + '\n')
  return join('fixtures/fuzz', target, name)
}

const HANG_CONTEXT = createContext({})
const HANG_SCRIPT = new Script('run()')

/**
 * `fn()`, stopped after `ms` with an Error (a hang) if it is still running. Synchronous code only: what `fn`
 * leaves to a later tick is not covered. About 50 µs a call. The bound is wall time, so it is generous: on a
 * loaded CI machine one MSE responder case (~2 ms alone) once passed 2 s, in a file that took 38 s instead of 1;
 * an endless loop still fails, 10 s later.
 */
export function noHang<T> (fn: () => T, ms = 10_000): T {
  HANG_CONTEXT.run = fn
  try {
    return HANG_SCRIPT.runInContext(HANG_CONTEXT, { timeout: ms }) as T
  } catch (err) {
    if ((err as { code?: string } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new Error(`still running after ${ms} ms: a hang`)
    throw err
  } finally {
    HANG_CONTEXT.run = undefined
  }
}

/** Throws unless `err` is a ZentorrentError (with one of `codes`, when given): the only way out we allow. */
export function expectTyped (err: unknown, codes?: readonly string[]): void {
  if (!isZentorrentError(err)) throw new Error(`not a ZentorrentError: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  if (codes !== undefined && !codes.includes(err.code)) throw new Error(`unexpected code ${err.code}: ${err.message}`)
}

/**
 * Replay `target`'s saved failures through `check`, then run the property on `arbitrary`: `check` throws (or
 * rejects) to fail. A failure is reported with fast-check's shrunk counterexample, and saved with FUZZ_SAVE=1.
 */
export async function fuzz<T> (t: Test, target: string, arbitrary: fc.Arbitrary<T>, codec: Codec<T>, ci: number,
  check: (input: T) => void | Promise<void>): Promise<void> {
  for (const { name, input } of savedInputs(target, codec)) {
    try {
      await check(input)
      t.pass(`fixtures/fuzz/${target}/${name} passes`)
    } catch (err) {
      t.fail(`fixtures/fuzz/${target}/${name}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const numRuns = runs(ci)
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
  const property = fc.asyncProperty(arbitrary, async (input) => { await check(input) })
  const details = await fc.check(property, { numRuns, ...(seed !== undefined ? { seed } : {}) })
  if (!details.failed) {
    t.pass(`${target}: ${details.numRuns} inputs`)
    return
  }
  const counterexample = details.counterexample?.[0]
  const where = counterexample !== undefined && process.env.FUZZ_SAVE === '1'
    ? ` (saved as ${save(target, codec, counterexample, String(details.errorInstance))})`
    : ''
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
  t.fail(`${target}: failed after ${details.numRuns} inputs${where}: ${error.slice(0, 2000)}\n${fc.defaultReportMessage(details) ?? ''}`)
}
