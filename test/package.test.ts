/**
 * The package as users install it: `npm pack` (of the built dist/, scripts not run), `npm install -g` of the tarball
 * into an empty prefix, then the installed `zentorrent --version`, a download from a libtorrent seeder on loopback,
 * and a TypeScript file compiled in strict mode (library checks on) against the installed types.
 *
 * The tarball's dependencies come from the local npm cache (`--prefer-offline`): `npm ci` cached their tarballs;
 * npm still wants each dependency's registry document once for a global install, and caches it then (after the
 * first run `--offline` works too).
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdir, readFile, symlink, writeFile, access } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireBuiltCli, singleFileTorrent, startLibtorrentSeeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

interface Run { status: number | null, stdout: string, stderr: string }

async function run (command: string, args: readonly string[], opts: { cwd?: string, timeoutMs?: number } = {}): Promise<Run> {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  return { status, stdout, stderr }
}

t.before(requireBuiltCli)

t.test('npm pack → npm install -g into an empty prefix → a working zentorrent with types', { timeout: 90_000 }, async (t) => {
  const work = await tempDir(t, 'package')
  const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

  // pack what is built; --ignore-scripts so `prepare` does not rebuild dist/ under other tests' feet
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work])
  t.equal(pack.status, 0, `npm pack: ${pack.stderr}`)
  const [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed!.files.map((f) => f.path)
  const stray = files.filter((f) => !/^dist\/(bin|lib)\/.*\.(js|d\.ts)$/.test(f) && !['LICENSE', 'README.md', 'package.json'].includes(f))
  t.same(stray, [], 'only what runs: dist/bin and dist/lib code and types, LICENSE, README, package.json')
  t.ok(files.includes('LICENSE'), 'LICENSE ships')
  t.ok(files.includes('dist/bin/zentorrent.js') && files.includes('dist/lib/index.d.ts'), 'the CLI and the types ship')
  t.notOk(files.some((f) => f.startsWith('dist/bench/') || f.startsWith('test/') || f.endsWith('.map')), 'no benchmarks, tests or source maps')
  for (const f of files.filter((f) => f.endsWith('.js'))) {
    const text = await readFile(join(ROOT, f), 'utf8')
    if (text.includes('sourceMappingURL')) t.fail(`${f} points at a source map that does not ship`)
  }
  const license = await readFile(join(ROOT, 'LICENSE'), 'utf8')
  t.match(license, /^MIT License\n\nCopyright \(c\) \d{4} zentorrent contributors\n/)

  const prefix = join(work, 'prefix')
  const install = await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(work, packed!.filename)], { timeoutMs: 45_000 })
  t.equal(install.status, 0, `npm install -g: ${install.stderr.slice(-2000)}`)
  const bin = join(prefix, 'bin', 'zentorrent')
  const installed = join(prefix, 'lib', 'node_modules', 'zentorrent')
  await access(bin)
  await t.rejects(access(join(installed, 'node_modules', 'tap')), 'no dev dependencies installed')

  const v = await run(bin, ['--version'], { cwd: work })
  t.equal(v.status, 0, v.stderr)
  t.equal(v.stdout, `zentorrent ${version}\n`)

  // a download with the installed command, from libtorrent on loopback
  const { dir, data, torrentPath } = await singleFileTorrent(t, 'package-seed', 600_000, 41)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)
  const out = join(work, 'out')
  const download = await run(bin, [torrentPath, '-o', out, '--peer', `127.0.0.1:${seeder.port}`, '--no-trackers', '-p', '0', '--bind', '127.0.0.1', '--json'],
    { cwd: work, timeoutMs: 30_000 })
  t.equal(download.status, 0, `the installed zentorrent downloads: ${download.stderr}`)
  t.ok((await readFile(join(out, 'data.bin'))).equals(data), 'byte for byte the seeder\'s file')
  t.match(download.stdout, /"event":"done"/)

  // the installed types, as a strict TypeScript user sees them (library files checked too)
  const consumer = join(work, 'consumer')
  await mkdir(join(consumer, 'node_modules', '@types'), { recursive: true })
  await symlink(installed, join(consumer, 'node_modules', 'zentorrent'))
  await symlink(join(ROOT, 'node_modules', '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'))
  await writeFile(join(consumer, 'package.json'), '{ "type": "module" }\n')
  const tsconfig = (file: string): string => JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', skipLibCheck: false, types: ['node'] },
    files: [file]
  })
  await writeFile(join(consumer, 'tsconfig.json'), tsconfig('use.ts'))
  await writeFile(join(consumer, 'use.ts'), `import { readFile } from 'node:fs/promises'
import { parseMetainfo, makeTorrent, ZentorrentError, isZentorrentError, type Metainfo, type HashProgress } from 'zentorrent'
const meta: Metainfo = parseMetainfo(await readFile(process.argv[2]!))
const size: number = meta.length
const created = await makeTorrent('.', { onProgress: (p: HashProgress) => { console.log(p.hashed / p.total) } })
const err: unknown = new ZentorrentError('BAD_ARGUMENT', 'x')
if (isZentorrentError(err, 'BAD_ARGUMENT')) console.log(err.code, size, created.infoHashHex.length)
`)
  const good = await run(process.execPath, [TSC, '-p', consumer], { cwd: consumer, timeoutMs: 40_000 })
  t.equal(good.status, 0, `tsc --strict against the installed types: ${good.stdout}${good.stderr}`)
  // and the types are real: a wrong use is an error
  await writeFile(join(consumer, 'wrong.ts'), `import { parseMetainfo } from 'zentorrent'\nconst n: number = parseMetainfo(Buffer.alloc(0))\nconsole.log(n)\n`)
  await writeFile(join(consumer, 'tsconfig.json'), tsconfig('wrong.ts'))
  const bad = await run(process.execPath, [TSC, '-p', consumer], { cwd: consumer, timeoutMs: 40_000 })
  t.not(bad.status, 0, 'a type error against the installed types fails')
  t.match(bad.stdout, /wrong\.ts\(2,7\): error TS2322: Type 'Metainfo' is not assignable to type 'number'/)
})
