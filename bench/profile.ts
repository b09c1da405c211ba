/**
 * Where zentorrent's time goes in one download (issue 15's evidence): the fair benchmark's set-up (bench/harness.ts:
 * opentracker, a libtorrent seeder checked in full, a warm-up download) and then the same zentorrent download run
 * once each way:
 *
 *   plain        the CLI as users run it (the reference for the others' overhead)
 *   cpu-prof     `node --cpu-prof` with the shebang's runtime settings: V8's sampling profile of every thread
 *                (main and the piece worker), summarised by function (self time) and by module
 *   perf-stat    `perf stat` (software counters: this VM exposes no hardware ones): task-clock, context switches,
 *                migrations, page faults
 *   perf-record  `perf record -e cpu-clock` over `node --perf-basic-prof`: where CPU goes by shared object (kernel,
 *                node, libcrypto, JIT-compiled JavaScript) and by symbol
 *   strace       `strace -f -c`: system calls by count and per GiB (strace slows the run; the counts are the point)
 *
 *   npm run build --silent && node dist/bench/profile.js [--size-mib 1024] [--piece-kib 1024] [--files N] [--ways plain,cpu-prof,…]
 *
 * Writes a Markdown summary to stdout and to bench/out/profile-*.md, the profiles and tool outputs beside it.
 */
import { readdir, readFile, mkdir, mkdtemp, rm, writeFile, stat, unlink } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { CLI_RUNTIME, MiB, projectRoot, runMain } from './util.js'
import { GiB, canDropCaches, manyFiles, runScenario, singleFile, zentorrent, f2, type Client, type DataSet } from './harness.js'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number }
interface CpuProfile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

/** Where a profile frame belongs: our module, a package, Node's internals, or V8's pseudo-frames. */
function moduleOf (url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  const lib = /\/dist\/(lib\/.*|bin\/.*)\.js$/.exec(url)
  if (lib !== null) return lib[1]!
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return `npm:${pkg[1]!}`
  return url.startsWith('node:') ? url.replace(/^node:internal\/([^/]+).*$/, 'node:internal/$1') : url
}

/** A .cpuprofile's self time by function and by module, in ms (sample deltas attributed to the sampled node). */
function summariseProfile (profile: CpuProfile, top: number): { totalMs: number, functions: Array<[string, number]>, modules: Array<[string, number]> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const fn = new Map<string, number>()
  const mod = new Map<string, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)
    if (node === undefined) continue
    const ms = (profile.timeDeltas[i] ?? 0) / 1000
    const { functionName, url, lineNumber } = node.callFrame
    const key = `${functionName === '' ? '(anonymous)' : functionName} ${url === '' ? '' : `${basename(url)}:${lineNumber + 1}`}`.trim()
    fn.set(key, (fn.get(key) ?? 0) + ms)
    const m = moduleOf(url, functionName)
    mod.set(m, (mod.get(m) ?? 0) + ms)
  }
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
  return { totalMs: (profile.endTime - profile.startTime) / 1000, functions: sorted(fn), modules: sorted(mod) }
}

/** strace -c's table → rows of [syscall, calls, seconds]. */
function parseStrace (text: string): Array<{ name: string, calls: number, seconds: number, errors: number }> {
  const rows: Array<{ name: string, calls: number, seconds: number, errors: number }> = []
  for (const line of text.split('\n')) {
    const m = /^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+)?\s*([a-z_0-9]+)\s*$/.exec(line)
    if (m !== null && m[6] !== 'total') rows.push({ name: m[6]!, calls: Number(m[4]), seconds: Number(m[2]), errors: Number(m[5] ?? 0) })
  }
  return rows.sort((a, b) => b.calls - a.calls)
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '1024' },
      'piece-kib': { type: 'string', default: '1024' },
      files: { type: 'string', default: '1' },
      ways: { type: 'string', default: 'plain,cpu-prof,perf-stat,perf-record,strace' },
      'no-load-wait': { type: 'boolean', default: false }
    }
  })
  const bytes = Number(values['size-mib']) * MiB
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const outDir = join(projectRoot, 'bench', 'out', `profile-${stamp}`)
  await mkdir(outDir, { recursive: true })
  const profDir = join(outDir, 'cpuprofile')
  const perfData = join(outDir, 'perf.data')
  const perfStat = join(outDir, 'perf-stat.txt')
  const straceOut = join(outDir, 'strace.txt')
  const node = process.execPath
  const env = { ...CLI_RUNTIME.env }
  const all: Record<string, Client> = {
    plain: { name: 'plain', command: (t, o) => zentorrent(t, o, '--quiet') },
    'cpu-prof': { name: 'cpu-prof', command: (t, o) => zentorrent(t, o, '--quiet', { env, prefix: [node, '--cpu-prof', `--cpu-prof-dir=${profDir}`, ...CLI_RUNTIME.nodeFlags] }) },
    'perf-stat': { name: 'perf-stat', command: (t, o) => zentorrent(t, o, '--quiet', { prefix: ['perf', 'stat', '-o', perfStat, '-e', 'task-clock,context-switches,cpu-migrations,page-faults', '--'] }) },
    'perf-record': { name: 'perf-record', command: (t, o) => zentorrent(t, o, '--quiet', { env, prefix: ['perf', 'record', '-q', '-F', '999', '-e', 'cpu-clock', '-o', perfData, '--', node, '--perf-basic-prof', ...CLI_RUNTIME.nodeFlags] }) },
    strace: { name: 'strace', command: (t, o) => zentorrent(t, o, '--quiet', { prefix: ['strace', '-f', '-c', '-o', straceOut] }) }
  }
  const ways = values.ways!.split(',')
  for (const w of ways) if (all[w] === undefined) throw new Error(`no way "${w}" (${Object.keys(all).join(', ')})`)
  const log = (text: string): void => { process.stderr.write(`bench ${new Date().toISOString().slice(11, 19)}: ${text}\n`) }
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-bench-profile-'))
  const startedAt = Date.now()
  try {
    const result = await runScenario({
      name: 'profile',
      title: `1 seeder, ${values['piece-kib']} KiB pieces`,
      data: Number(values.files) > 1 ? manyFiles(Number(values.files), bytes) : singleFile(bytes),
      pieceLength: Number(values['piece-kib']) * 1024,
      seeders: 1,
      encryption: false,
      clients: ways.map((w) => all[w]!),
      runs: 1
    }, { root, dataCache: new Map<string, DataSet>(), dropCaches: canDropCaches(), log, noLoadWait: values['no-load-wait'] === true })
    const gib = bytes / GiB
    const lines = [`## zentorrent profile: ${values['size-mib']} MiB, ${values['piece-kib']} KiB pieces, one libtorrent seeder, tracker`, '',
      `load before ${result.load.before.load1.toFixed(2)}, after ${result.load.after[0].toFixed(2)}`, '',
      '| way | wall s | CPU s (user + sys) | correct |', '|---|---|---|---|']
    for (const [way, runs] of Object.entries(result.runs)) {
      const r = runs[0]!
      lines.push(`| ${way} | ${f2(r.wall)} | ${f2(r.cpu)} (${f2(r.user)} + ${f2(r.system)}) | ${r.correct ? 'yes' : 'NO'} |`)
    }
    if (ways.includes('cpu-prof')) {
      for (const file of (await readdir(profDir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile')).sort()) {
        const profile = JSON.parse(await readFile(join(profDir, file), 'utf8')) as CpuProfile
        const s = summariseProfile(profile, 25)
        const thread = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file)
        lines.push('', `### cpu-prof ${file} (thread ${thread?.[2] ?? '?'}; ${f2(s.totalMs / 1000)} s profiled)`, '',
          '| self ms | % | module |', '|---|---|---|',
          ...s.modules.slice(0, 15).map(([m, ms]) => `| ${ms.toFixed(0)} | ${(100 * ms / s.totalMs).toFixed(1)} | ${m} |`), '',
          '| self ms | % | function |', '|---|---|---|',
          ...s.functions.map(([f, ms]) => `| ${ms.toFixed(0)} | ${(100 * ms / s.totalMs).toFixed(1)} | \`${f}\` |`))
      }
    }
    if (ways.includes('perf-stat')) {
      const text = await readFile(perfStat, 'utf8').catch(() => 'perf stat wrote nothing')
      lines.push('', '### perf stat', '', '```', text.trim(), '```')
    }
    if (ways.includes('perf-record')) {
      const report = (sort: string, n: number): string => {
        const r = spawnSync('perf', ['report', '-i', perfData, '--stdio', '--no-children', '--sort', sort, '--percent-limit', '0.5'], { encoding: 'utf8', maxBuffer: 64 * MiB })
        return r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).slice(0, n).join('\n')
      }
      lines.push('', '### perf record -e cpu-clock: by shared object', '', '```', report('dso', 15), '```',
        '', '### perf record: top symbols', '', '```', report('dso,sym', 40), '```')
      await writeFile(join(outDir, 'perf-report-sym.txt'), report('dso,sym', 400))
      // perf's JIT maps (/tmp/perf-PID.map) of processes that have exited since we started
      for (const f of await readdir('/tmp')) {
        const m = /^perf-(\d+)\.map$/.exec(f)
        if (m === null) continue
        const info = await stat(join('/tmp', f)).catch(() => null)
        const alive = spawnSync('kill', ['-0', m[1]!]).status === 0
        if (info !== null && info.mtimeMs >= startedAt && !alive) await unlink(join('/tmp', f)).catch(() => {})
      }
    }
    if (ways.includes('strace')) {
      const rows = parseStrace(await readFile(straceOut, 'utf8').catch(() => ''))
      lines.push('', `### strace -f -c (all threads; per GiB = calls ÷ ${gib.toFixed(2)})`, '', '| syscall | calls | per GiB | errors | s (strace) |', '|---|---|---|---|---|',
        ...rows.slice(0, 20).map((r) => `| ${r.name} | ${r.calls} | ${(r.calls / gib).toFixed(0)} | ${r.errors} | ${r.seconds.toFixed(3)} |`))
    }
    const text = lines.join('\n') + '\n'
    process.stdout.write(text)
    await writeFile(join(outDir, 'summary.md'), text)
    log(`profile and summary in ${outDir}`)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

runMain(main)
