import t from 'tap'
import { PassThrough, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createTokenBucket } from '../lib/rate-limit.js'
import { throttle } from '../lib/throttle.js'
import { BLOCK_LENGTH as BLOCK_SIZE } from '../lib/geometry.js'

function fakeClock (start = 0): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: (ms) => { time += ms } }
}

t.test('capacity defaults to a tenth of a second of rate, at least one block', async (t) => {
  const clock = fakeClock()
  t.equal(createTokenBucket({ rate: 1_000_000, now: clock.now }).capacity, 100_000)
  t.equal(createTokenBucket({ rate: 1000, now: clock.now }).capacity, BLOCK_SIZE)
  t.equal(createTokenBucket({ rate: 1000, capacity: 10, now: clock.now }).capacity, 10)
  t.throws(() => createTokenBucket({ rate: -1 }), RangeError)
  t.throws(() => createTokenBucket({ rate: Number.NaN }), RangeError)
  t.throws(() => createTokenBucket({ rate: 10, capacity: 0 }), RangeError)
})

t.test('take: a full bucket first, then waits exactly as long as the debt takes to refill', async (t) => {
  const clock = fakeClock(5000)
  const bucket = createTokenBucket({ rate: 1000, capacity: 500, now: clock.now })
  t.equal(bucket.take(500), 0, 'the burst is free')
  t.equal(bucket.available(), 0)
  t.equal(bucket.take(100), 100, '100 bytes at 1000 B/s: 100 ms')
  t.equal(bucket.take(100), 200, 'queued behind the first: 200 ms')
  clock.advance(200)
  t.equal(bucket.available(), 0, 'debt paid off')
  clock.advance(10_000)
  t.equal(bucket.available(), 500, 'refill stops at capacity')
  t.equal(bucket.take(2000), 1500, 'a request larger than the capacity goes through, delayed')
  clock.advance(1499)
  t.equal(bucket.take(0), 1, 'rounded up to whole milliseconds')
  clock.advance(1)
  t.equal(bucket.take(0), 0)
})

t.test('a clock stepping back neither adds nor removes tokens', async (t) => {
  const clock = fakeClock(1000)
  const bucket = createTokenBucket({ rate: 1000, capacity: 100, now: clock.now })
  bucket.take(100)
  clock.advance(-500)
  t.equal(bucket.available(), 0)
  clock.advance(550)
  t.equal(bucket.available(), 50, 'counts from the latest time seen')
})

t.test('simulated sender never beats the rate over any window longer than the burst', async (t) => {
  const clock = fakeClock()
  const rate = 50_000
  const bucket = createTokenBucket({ rate, now: clock.now })
  let sent = 0
  const sizes = [1000, 16384, 3, 40_000, 7000]
  for (let i = 0; i < 500; i++) {
    const n = sizes[i % sizes.length]
    clock.advance(bucket.take(n))
    sent += n
    t.ok(sent <= bucket.capacity + clock.now() * rate / 1000, 'within rate × time + capacity')
  }
  t.ok(clock.now() >= (sent - bucket.capacity) * 1000 / rate - 1, 'and no slower than needed')
})

t.test('no limit: rate 0 or Infinity never waits', async (t) => {
  for (const rate of [0, Infinity]) {
    const bucket = createTokenBucket({ rate })
    t.equal(bucket.take(1e12), 0)
    t.equal(bucket.available(), Infinity)
  }
})

async function collect (stream: NodeJS.ReadableStream, input: Buffer, chunk: number): Promise<Buffer> {
  const source = new PassThrough()
  const parts: Buffer[] = []
  const sink = new Writable({ write (data: Buffer, _enc, cb) { parts.push(data); cb() } })
  const done = pipeline(source, stream as PassThrough, sink)
  for (let i = 0; i < input.length; i += chunk) source.write(input.subarray(i, i + chunk))
  source.end()
  await done
  return Buffer.concat(parts)
}

t.test('throttle: bytes pass through unchanged, in order', async (t) => {
  const input = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) & 0xff))
  const out = await collect(throttle(createTokenBucket({ rate: 0 })), input, 7777)
  t.ok(out.equals(input))
})

t.test('throttle: N bytes at rate R take about (N - burst) / R in real time', async (t) => {
  const rate = 400_000
  const bucket = createTokenBucket({ rate })
  const input = Buffer.alloc(240_000, 1)
  const start = performance.now()
  const out = await collect(throttle(bucket), input, 60_000)
  const elapsed = performance.now() - start
  const ideal = (input.length - bucket.capacity) * 1000 / rate // 500 ms
  t.equal(out.length, input.length)
  t.ok(elapsed >= ideal - 20, `not faster than the rate (${elapsed.toFixed(0)} ms ≥ ${ideal} ms)`)
  t.ok(elapsed < ideal * 3 + 1000, `not much slower (${elapsed.toFixed(0)} ms; loose: a loaded CI machine runs far slower than a quiet one)`)
})

t.test('throttle: destroy mid-wait clears the timer and ends the stream', async (t) => {
  const bucket = createTokenBucket({ rate: 1000, capacity: 5000 })
  const stream = throttle(bucket)
  stream.on('data', () => {})
  stream.write(Buffer.alloc(10_000)) // the second half waits 5 s at this rate
  await new Promise((resolve) => setTimeout(resolve, 20))
  const closed = new Promise((resolve) => stream.once('close', resolve))
  stream.destroy()
  await closed
  t.ok(stream.destroyed)
  // If the timer were still armed, the process would stay alive ~5 s and tap's timeout would flag it.
  t.equal(bucket.available() < 0, true, 'the debt stays with the bucket (shared by other streams)')
})
