/**
 * Encrypted download benchmark (issue 13): one libtorrent seeder with MSE/PE forced (out_enc_policy and
 * in_enc_policy `forced`, allowed_enc_level `rc4`: it refuses and never dials plain connections), found through
 * opentracker, and in the same run, interleaved and rotated (bench/harness.ts's procedure):
 *
 *   zentorrent-native  `node --openssl-legacy-provider --max-semi-space-size=1 dist/bin/zentorrent.js … --encryption
 *                      require` with the shebang's malloc environment (util.ts CLI_RUNTIME): OpenSSL's RC4
 *   zentorrent-js      `dist/bin/zentorrent.js … --encryption require` with ZENTORRENT_RC4=js: our RC4 (what a user
 *                      without the flag gets anyway, as Node 20's OpenSSL 3 has no RC4 by default)
 *   libtorrent         libtorrent's own client with encryption forced the same way
 *
 *   npm run build --silent && node dist/bench/encryption.js [--quick] [--runs 3] [--no-drop-caches] [--no-load-wait]
 *
 * Target: zentorrent with native RC4 within 1.3× libtorrent's wall time. zentorrent reports neither in its
 * `--json` events nor its status which RC4 it runs, so the benchmark checks it as well as it can from outside: a
 * probe process started exactly like each variant (same Node flags and environment) prints lib/wire/mse/rc4.ts's
 * `rc4Implementation()`, and each variant's uncounted `--json` run is searched for any mention of RC4. Raw results
 * go to bench/out/encryption-*.json.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { CLI_RUNTIME, MiB, projectRoot, runMain } from './util.js'
import {
  GiB, canDropCaches, environment, libtorrentLeecher, runScenario, singleFile, summarise, table, f2, writeRaw, zentorrent,
  type Client, type DataSet
} from './harness.js'

const NATIVE_PREFIX = [process.execPath, '--openssl-legacy-provider', ...CLI_RUNTIME.nodeFlags]
const ENCRYPTED = { args: ['--encryption', 'require'] }

const VARIANTS = {
  'zentorrent-native': { intended: 'native', nodeFlags: ['--openssl-legacy-provider', ...CLI_RUNTIME.nodeFlags], env: { ...CLI_RUNTIME.env } as Record<string, string> },
  'zentorrent-js': { intended: 'js', nodeFlags: [...CLI_RUNTIME.nodeFlags], env: { ...CLI_RUNTIME.env, ZENTORRENT_RC4: 'js' } as Record<string, string> }
} as const

const CLIENTS: Client[] = [
  {
    name: 'zentorrent-native',
    command: (torrent, out) => zentorrent(torrent, out, '--quiet', { ...ENCRYPTED, prefix: NATIVE_PREFIX, env: VARIANTS['zentorrent-native'].env }),
    probe: (torrent, out) => zentorrent(torrent, out, '--json', { ...ENCRYPTED, prefix: NATIVE_PREFIX, env: VARIANTS['zentorrent-native'].env })
  },
  {
    name: 'zentorrent-js',
    command: (torrent, out) => zentorrent(torrent, out, '--quiet', { ...ENCRYPTED, env: { ZENTORRENT_RC4: 'js' } }),
    probe: (torrent, out) => zentorrent(torrent, out, '--json', { ...ENCRYPTED, env: { ZENTORRENT_RC4: 'js' } })
  },
  { name: 'libtorrent', command: (torrent, out) => libtorrentLeecher(torrent, out, true) }
]

/** What `rc4Implementation()` says in a Node started like the variant (same flags, same environment). */
function rc4Probe (variant: keyof typeof VARIANTS): string {
  const url = pathToFileURL(join(projectRoot, 'dist', 'lib', 'wire', 'mse', 'rc4.js')).href
  const r = spawnSync(process.execPath, [...VARIANTS[variant].nodeFlags, '--input-type=module', '-e',
    `const m = await import(${JSON.stringify(url)}); console.log(m.rc4Implementation())`],
  { encoding: 'utf8', env: { ...process.env, ...VARIANTS[variant].env } })
  return r.status === 0 ? r.stdout.trim() : `probe failed: ${r.stderr.trim().slice(-200)}`
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string', default: '3' },
      'no-drop-caches': { type: 'boolean', default: false },
      'no-load-wait': { type: 'boolean', default: false }
    }
  })
  const log = (text: string): void => { process.stderr.write(`bench ${new Date().toISOString().slice(11, 19)}: ${text}\n`) }
  const dropCaches = !values['no-drop-caches'] && canDropCaches()
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-bench-enc-'))
  const started = new Date().toISOString()
  try {
    const checks = Object.keys(VARIANTS).map((name) => {
      const variant = name as keyof typeof VARIANTS
      return { name, intended: VARIANTS[variant].intended, probed: rc4Probe(variant) }
    })
    const result = await runScenario({
      name: 'encryption',
      title: '1 seeder (libtorrent, MSE/PE forced, RC4), 1 MiB pieces',
      data: singleFile(values.quick === true ? 64 * MiB : GiB),
      pieceLength: MiB,
      seeders: 1,
      encryption: true,
      clients: CLIENTS,
      runs: Number(values.runs)
    }, { root, dataCache: new Map<string, DataSet>(), dropCaches, log, noLoadWait: values['no-load-wait'] === true, ...(values.quick === true ? { runTimeoutMs: 120_000 } : {}) })
    const reported = Object.fromEntries(Object.entries(result.probes).map(([name, p]) => [name, /rc4|cipher|encrypt/i.test(p.measure.stdout)]))
    const lines = [table(result), '', '| variant | RC4 intended | `rc4Implementation()` in a Node started alike | named in `--json` events |', '|---|---|---|---|']
    for (const c of checks) lines.push(`| ${c.name} | ${c.intended} | ${c.probed}${c.probed === c.intended ? '' : ' (MISMATCH)'} | ${reported[c.name] === true ? 'yes' : 'no (gap)'} |`)
    const native = summarise(result.runs['zentorrent-native']!)
    const lt = summarise(result.runs.libtorrent!)
    lines.push('', `issue-13 target, native RC4 within 1.3× libtorrent's wall: ${f2(native.wall / lt.wall)}× — ${native.wall <= 1.3 * lt.wall ? 'met' : 'NOT met'}`)
    process.stdout.write(lines.join('\n') + '\n')
    const path = await writeRaw('encryption', { started, finished: new Date().toISOString(), quick: values.quick, environment: environment(), rc4: checks, reported, result })
    log(`raw results: ${path}`)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

runMain(main)
