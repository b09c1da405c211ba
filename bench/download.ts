/**
 * The fair download benchmark (issue 15): zentorrent, libtorrent's own client (python3-libtorrent 2.0) and aria2c
 * download the same torrent from the same libtorrent seeder(s) on loopback, each finding its peers through the same
 * real tracker (opentracker), each run as its users run it, interleaved in one invocation with the order rotated
 * every round. bench/harness.ts holds the procedure (warm-up, tracker restart, sync and cache drop between runs,
 * SHA1 of every output, the first block request seen by the seeders); this file holds the scenarios and the table.
 *
 *   npm run build --silent && node dist/bench/download.js [--scenario 1seed,4seeds,…|all] [--quick] [--runs 3]
 *       [--clients zentorrent,libtorrent,aria2[,baseline]] [--no-drop-caches] [--no-load-wait]
 *   (baseline: an earlier build named by BENCH_BASELINE, for regression checks in the same run)
 *
 * Scenarios (`--quick`: the small sizes, for checking the benchmark itself):
 *   1seed       1 GiB (64 MiB), 1 MiB pieces, one seeder — the default, what `npm run bench` runs
 *   4seeds      the same from four libtorrent seeders of the same data
 *   piece-16k, piece-256k, piece-4m   1 GiB (64 MiB) from one seeder with 16 KiB, 256 KiB, 4 MiB pieces
 *   files-50    50 files, 218 MB (22 MB), 256 KiB pieces, pieces spanning files
 *   4gib        4 GiB (256 MiB), 1 MiB pieces, zentorrent and libtorrent only: memory flat with size
 *
 * How each client runs:
 *   zentorrent  the built CLI executed directly (`dist/bin/zentorrent.js`: its shebang sets the runtime flags),
 *               `TORRENT -o OUT --no-dht --port 0 --quiet`, ZENTORRENT_NO_PUBLIC_DHT=1; one uncounted `--json` run
 *               first, whose events' `time`s give start-up facts ('started', the first 'piece' written)
 *   libtorrent  bench/libtorrent-peer.py leech: torrent added with `auto_managed` and `paused` cleared, listening
 *               on 127.0.0.1, loopback settings
 *   aria2c      DHT and LPD off, `--seed-time=0`, `--file-allocation=none` (sparse, like the other two)
 *
 * Reported per scenario, medians of the correct runs: wall s (spawn to exit), CPU s (user + system, all threads),
 * peak RSS (GNU time; libtorrent's counts the file pages it maps), peak anonymous RSS (sampled), the time from spawn
 * to the first block request a seeder received, and each client's ratio to libtorrent's wall and CPU. Raw results
 * go to bench/out/download-*.json (gitignored).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MiB, runMain } from './util.js'
import {
  GiB, canDropCaches, environment, libtorrentLeecher, manyFiles, runScenario, singleFile, summarise, table,
  f0, f2, writeRaw, zentorrent, type Client, type Command, type DataSet, type Scenario, type ScenarioResult
} from './harness.js'

const CLIENTS: Record<string, Client> = {
  zentorrent: {
    name: 'zentorrent',
    command: (torrent, out) => zentorrent(torrent, out, '--quiet'),
    probe: (torrent, out) => zentorrent(torrent, out, '--json')
  },
  libtorrent: { name: 'libtorrent', command: (torrent, out) => libtorrentLeecher(torrent, out, false) },
  // `--clients …,baseline` with BENCH_BASELINE=/path/to/an/older/build/dist/bin/zentorrent.js: the same run with an
  // earlier zentorrent (a regression check; that build may predate --no-dht and the DHT, so it gets neither)
  baseline: {
    name: 'baseline',
    command: (torrent, out) => baseline(torrent, out, '--quiet'),
    probe: (torrent, out) => baseline(torrent, out, '--json')
  },
  aria2: {
    name: 'aria2',
    command: (torrent, out) => ({
      command: 'aria2c',
      args: ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--seed-time=0',
        '--file-allocation=none', '--console-log-level=error', '--summary-interval=0', '--download-result=hide',
        `--dir=${out}`, torrent]
    })
  }
}

/** The baseline client's command (see CLIENTS.baseline). */
function baseline (torrent: string, out: string, display: '--quiet' | '--json'): Command {
  const bin = process.env.BENCH_BASELINE
  if (bin === undefined || bin === '') throw new Error('the baseline client needs BENCH_BASELINE=…/dist/bin/zentorrent.js')
  // BENCH_BASELINE_ARGS: extra arguments for it (`--no-dht` for a build that has a DHT)
  const extra = (process.env.BENCH_BASELINE_ARGS ?? '').split(' ').filter((a) => a !== '')
  return { command: bin, args: [torrent, '-o', out, '--port', '0', display, ...extra], env: { ZENTORRENT_NO_PUBLIC_DHT: '1' } }
}

interface ScenarioSpec { title: string, data: (quick: boolean) => ReturnType<typeof singleFile>, pieceLength: number, seeders: number, clients?: string[] }

const size = (full: number, quick: number) => (q: boolean): ReturnType<typeof singleFile> => singleFile(q ? quick : full)

const SCENARIOS: Record<string, ScenarioSpec> = {
  '1seed': { title: '1 seeder, 1 MiB pieces', data: size(GiB, 64 * MiB), pieceLength: MiB, seeders: 1 },
  '4seeds': { title: '4 seeders, 1 MiB pieces', data: size(GiB, 64 * MiB), pieceLength: MiB, seeders: 4 },
  'piece-16k': { title: '1 seeder, 16 KiB pieces', data: size(GiB, 64 * MiB), pieceLength: 16 * 1024, seeders: 1 },
  'piece-256k': { title: '1 seeder, 256 KiB pieces', data: size(GiB, 64 * MiB), pieceLength: 256 * 1024, seeders: 1 },
  'piece-4m': { title: '1 seeder, 4 MiB pieces', data: size(GiB, 64 * MiB), pieceLength: 4 * MiB, seeders: 1 },
  'files-50': { title: '256 KiB pieces spanning files, 1 seeder', data: (q) => manyFiles(50, q ? 21_800_000 : 218_000_000), pieceLength: 256 * 1024, seeders: 1 },
  '4gib': { title: '1 seeder, 1 MiB pieces (memory)', data: size(4 * GiB, 256 * MiB), pieceLength: MiB, seeders: 1, clients: ['zentorrent', 'libtorrent'] }
}

/** One line a scenario: zentorrent against the issue-15 targets. */
function targets (results: ScenarioResult[]): string {
  const lines = [
    '| scenario | wall × lt (≤ 1.0) | CPU s/GiB zentorrent / lt (≤ lt, → 2.5) | peak RSS MiB (≤ 64) | first request s (≤ 0.3) | load 1 min |',
    '|---|---|---|---|---|---|'
  ]
  for (const r of results) {
    const z = r.runs.zentorrent === undefined ? null : summarise(r.runs.zentorrent)
    const l = r.runs.libtorrent === undefined ? null : summarise(r.runs.libtorrent)
    if (z === null || l === null) continue
    const gib = r.bytes / GiB
    const mark = (ok: boolean): string => ok ? 'met' : 'NOT met'
    lines.push(`| ${r.name} | ${f2(z.wall / l.wall)}× ${mark(z.wall <= l.wall)} | ${f2(z.cpu / gib)} / ${f2(l.cpu / gib)} ${mark(z.cpu <= l.cpu)} | ` +
      `${f0(z.maxRssMiB)} ${mark(z.maxRssMiB <= 64)} | ${z.firstRequest === null ? '-' : z.firstRequest.toFixed(3)} ${mark(z.firstRequest !== null && z.firstRequest <= 0.3)} | ` +
      `${r.load.before.load1.toFixed(2)} |`)
  }
  return lines.join('\n')
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: '1seed' },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string', default: '3' },
      clients: { type: 'string', default: 'zentorrent,libtorrent,aria2' },
      'no-drop-caches': { type: 'boolean', default: false },
      'no-load-wait': { type: 'boolean', default: false }
    }
  })
  const names = values.scenario === 'all' ? Object.keys(SCENARIOS) : values.scenario!.split(',')
  for (const n of names) if (SCENARIOS[n] === undefined) throw new Error(`no scenario "${n}" (scenarios: ${Object.keys(SCENARIOS).join(', ')}, all)`)
  const wanted = values.clients!.split(',')
  for (const c of wanted) if (CLIENTS[c] === undefined) throw new Error(`no client "${c}" (clients: ${Object.keys(CLIENTS).join(', ')})`)
  const runs = Number(values.runs)
  const dropCaches = !values['no-drop-caches'] && canDropCaches()
  const log = (text: string): void => { process.stderr.write(`bench ${new Date().toISOString().slice(11, 19)}: ${text}\n`) }
  log(`page cache ${dropCaches ? 'dropped between runs' : values['no-drop-caches'] ? 'not dropped (--no-drop-caches)' : 'cannot be dropped here: only synced between runs'}`)
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-bench-'))
  const dataCache = new Map<string, DataSet>()
  const results: ScenarioResult[] = []
  const started = new Date().toISOString()
  const env = environment()
  const failed: string[] = []
  let rawPath: string | undefined
  try {
    for (const name of names) {
      const spec = SCENARIOS[name]!
      const scenario: Scenario = {
        name,
        title: spec.title,
        data: spec.data(values.quick === true),
        pieceLength: spec.pieceLength,
        seeders: spec.seeders,
        encryption: false,
        clients: wanted.filter((c) => spec.clients === undefined || spec.clients.includes(c)).map((c) => CLIENTS[c]!),
        runs
      }
      let result: ScenarioResult
      try {
        result = await runScenario(scenario, { root, dataCache, dropCaches, log, noLoadWait: values['no-load-wait'] === true, ...(values.quick === true ? { runTimeoutMs: 120_000 } : {}) })
      } catch (err) {
        // one scenario's broken set-up (a seeder that stopped answering) does not cost the others their numbers
        log(`${name}: FAILED: ${err instanceof Error ? err.message : String(err)}`)
        failed.push(name)
        process.exitCode = 1
        continue
      }
      results.push(result)
      process.stdout.write(table(result) + '\n\n')
      // raw results after every scenario, so an interrupted invocation keeps what it measured
      rawPath = await writeRaw('download', { started, finished: new Date().toISOString(), quick: values.quick, environment: env, failed, results }, rawPath)
      // a data set no later scenario uses is removed now (4 GiB is a lot of /tmp)
      for (const [key, set] of dataCache) {
        if (!names.slice(names.indexOf(name) + 1).some((n) => SCENARIOS[n]!.data(values.quick === true).name === key)) {
          await rm(set.dir, { recursive: true, force: true })
          dataCache.delete(key)
        }
      }
    }
    if (results.some((r) => r.runs.zentorrent !== undefined)) process.stdout.write('### issue-15 targets (zentorrent)\n\n' + targets(results) + '\n')
    if (failed.length > 0) process.stdout.write(`\nscenarios that could not run: ${failed.join(', ')}\n`)
    log(`raw results: ${rawPath ?? 'none'}`)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

runMain(main)
