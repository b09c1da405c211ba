/**
 * A stream's throughput held ≤ a token bucket's rate (lib/rate-limit.ts): a through2 transform, for library users
 * who limit a stream of their own. The client limits inside the scheduler and the uploader instead, so it never
 * loads this module (through2 and readable-stream cost ~30 ms at start-up).
 */
import type { Transform } from 'node:stream'
import { transform } from 'through2'
import type { Clock } from './clock.js'
import type { TokenBucket } from './rate-limit.js'

/**
 * The throttle's default clock keeps the process alive while data waits (unlike the system clock, whose timers are
 * for background work): a throttled stream is the work.
 */
const REF_CLOCK: Clock = {
  now: () => Date.now(),
  schedule: (fn, ms) => { const timer = setTimeout(fn, ms); return () => clearTimeout(timer) }
}

/**
 * A byte-mode pass-through that delays chunks so throughput stays ≤ the bucket's rate. Chunks are cut to at
 * most the bucket's capacity so a large write is spread out instead of sent in one burst after one long wait.
 * Backpressure is the ordinary Transform kind: the next chunk is not taken until this one has been pushed.
 * Pending timers are cleared in `_destroy`.
 */
export function throttle (bucket: TokenBucket, clock: Clock = REF_CLOCK): Transform {
  const step = Number.isFinite(bucket.capacity) ? Math.max(1, Math.floor(bucket.capacity)) : Infinity
  // through2 (the design's transform helper) runs the async function once per chunk and holds the next chunk
  // until it resolves: that is the backpressure. readable-stream's Transform is Node's API.
  return transform(async function (this: Transform, chunk: Buffer) {
    for (let offset = 0; offset < chunk.length && !this.destroyed; offset += step) {
      const piece = chunk.subarray(offset, offset + step)
      const wait = bucket.take(piece.length)
      if (wait > 0) await delay(this, wait, clock)
      if (!this.destroyed) this.push(piece)
    }
  }) as unknown as Transform
}

/** Wait `ms`, or less if the stream closes first (its timer is then cleared, so nothing outlives the stream). */
async function delay (stream: Transform, ms: number, clock: Clock): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => { cancel(); stream.off('close', done); resolve() }
    const cancel = clock.schedule(done, ms)
    stream.once('close', done)
  })
}
