/**
 * RC4 throughput on one core: our JavaScript RC4 and OpenSSL's, each over 256 MiB in 16 KiB + 13 byte chunks
 * (a piece message as the Wire sends it), in place where the implementation can, median of 5 runs.
 * OpenSSL's RC4 needs `--openssl-legacy-provider`, so the native figure comes from a child Node started with it.
 * Run: npm run build --silent && node dist/bench/rc4.js
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createRc4, nativeRc4Available, type Rc4Implementation } from '../lib/wire/mse/rc4.js'
import { median, MiB, runMain } from './util.js'

const TOTAL = 256 * MiB
const CHUNK = 16384 + 13
const RUNS = 5
const CHILD_FLAG = '--native-child'

function measure (implementation: Rc4Implementation): number[] {
  const data = Buffer.alloc(TOTAL, 0x5a)
  const runs: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const rc4 = createRc4(Buffer.from('bench key of twenty!'), { implementation, discard: 1024 })
    const start = process.hrtime.bigint()
    for (let offset = 0; offset < TOTAL; offset += CHUNK) rc4.updateInPlace(data.subarray(offset, Math.min(TOTAL, offset + CHUNK)))
    runs.push(TOTAL / MiB / (Number(process.hrtime.bigint() - start) / 1e9))
  }
  return runs
}

function report (name: string, runs: number[]): void {
  console.log(`rc4 ${name}: median ${median(runs).toFixed(0)} MiB/s (runs: ${runs.map((r) => r.toFixed(0)).join(', ')})`)
}

runMain(async () => {
  if (process.argv.includes(CHILD_FLAG)) {
    if (!nativeRc4Available()) throw new Error('no native RC4 even with --openssl-legacy-provider')
    console.log(JSON.stringify(measure('native')))
    return
  }
  report('js', measure('js'))
  const child = spawnSync(process.execPath, ['--openssl-legacy-provider', fileURLToPath(import.meta.url), CHILD_FLAG], { encoding: 'utf8', timeout: 120_000 })
  if (child.status !== 0) throw new Error(`native RC4 child failed (${String(child.status ?? child.signal)}): ${child.stderr}`)
  report('native (OpenSSL, --openssl-legacy-provider)', JSON.parse(child.stdout) as number[])
})
