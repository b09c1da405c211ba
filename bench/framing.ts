/**
 * Framing throughput on a socket-like stream: 16 KiB piece messages, delivered in 64 KiB reads (so about one
 * message in four straddles two reads and is copied once). Median of 5 runs of 1 GiB each.
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/framing.js
 */
import { createFraming, encodeMessageToBuffer, type Frame } from '../lib/wire/index.js'

const BLOCK = 16384
const READ = 65536
const TOTAL = 1 << 30
const RUNS = 5

function makeStream (): Buffer[] {
  // A 4 MiB recording, cut into 64 KiB reads; replayed until TOTAL bytes have gone through.
  const data = Buffer.alloc(BLOCK, 0x5a)
  const msgs: Buffer[] = []
  for (let i = 0, size = 0; size < 4 << 20; i++) {
    const m = encodeMessageToBuffer({ type: 'piece', index: i >> 4, offset: (i & 15) * BLOCK, data })
    msgs.push(m)
    size += m.length
  }
  const all = Buffer.concat(msgs)
  const whole = all.subarray(0, all.length - (all.length % READ))
  const reads: Buffer[] = []
  for (let i = 0; i < whole.length; i += READ) reads.push(Buffer.from(whole.subarray(i, i + READ)))
  // The recording must end on a message boundary to replay cleanly: append the remainder as a last read.
  const rest = all.subarray(whole.length)
  if (rest.length > 0) reads.push(Buffer.from(rest))
  return reads
}

async function run (reads: Buffer[]): Promise<number> {
  const framing = createFraming({})
  let blocks = 0
  framing.on('data', (f: Frame) => { if (f.type === 'piece') blocks++ })
  const bytesPerPass = reads.reduce((s, r) => s + r.length, 0)
  const passes = Math.ceil(TOTAL / bytesPerPass)
  const start = process.hrtime.bigint()
  for (let p = 0; p < passes; p++) {
    for (const r of reads) {
      if (!framing.write(r)) await new Promise((resolve) => framing.once('drain', resolve))
    }
  }
  framing.end()
  await new Promise((resolve) => framing.on('end', resolve))
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (blocks === 0) throw new Error('no blocks decoded')
  return passes * bytesPerPass / seconds / 1e6
}

const reads = makeStream()
const results: number[] = []
for (let i = 0; i < RUNS; i++) results.push(await run(reads))
results.sort((a, b) => a - b)
console.log(`framing: 16 KiB pieces in 64 KiB reads: median ${results[RUNS >> 1].toFixed(0)} MB/s (runs: ${results.map((r) => r.toFixed(0)).join(', ')})`)
