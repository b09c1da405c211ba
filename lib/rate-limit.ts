/**
 * Rate limits for `--upload-limit` / `--download-limit`: a token bucket (the scheme libtorrent's bandwidth
 * manager and most clients use), pure with an injectable clock. The byte-mode Transform that holds chunks back
 * so a stream's throughput stays ≤ the rate is lib/throttle.ts (it loads through2, which the client does not need).
 *
 * The bucket fills at `rate` bytes/s up to `capacity`. `take(n)` always takes its n bytes — the balance may go
 * negative, a debt — and returns how long the caller must wait before sending them (0: now). Taking even when
 * short keeps the caller's queue in the bucket, so several streams sharing one bucket (a global limit) are
 * served in the order they asked, and a request larger than the capacity still goes through, merely delayed.
 *
 * Burstiness: the capacity defaults to max(rate / 10, one 16 KiB block) — at most a tenth of a second's worth,
 * or one BEP 3 block so a block never has to be split across waits. The bucket starts full.
 */
import { BLOCK_LENGTH } from './geometry.js'

/** Capacity as a fraction of the rate: a tenth of a second of burst. */
export const BURST_SECONDS = 0.1

export interface TokenBucketOptions {
  /** Bytes per second; 0 or Infinity means no limit. */
  rate: number
  /** Bytes the bucket holds at most; default max(rate × BURST_SECONDS, one block). */
  capacity?: number
  /** The clock, in milliseconds (default Date.now); tests pass a fake one. */
  now?: () => number
}

export interface TokenBucket {
  readonly rate: number
  readonly capacity: number
  /** Take n bytes' worth of tokens; returns the milliseconds to wait before sending them (0: send now). */
  take: (n: number) => number
  /** Tokens available now (negative: owed). */
  available: () => number
}

export function createTokenBucket (opts: TokenBucketOptions): TokenBucket {
  const { rate } = opts
  const now = opts.now ?? Date.now
  if (!(rate >= 0)) throw new RangeError(`rate must be ≥ 0 bytes/s, got ${rate}`)
  const unlimited = rate === 0 || rate === Infinity
  const capacity = opts.capacity ?? (unlimited ? Infinity : Math.max(rate * BURST_SECONDS, BLOCK_LENGTH))
  if (!(capacity > 0)) throw new RangeError(`capacity must be > 0 bytes, got ${capacity}`)

  let tokens = capacity
  let last = now()

  function refill (): void {
    const t = now()
    // A clock that steps back (a fake clock reset, NTP) adds nothing rather than draining the bucket.
    if (t > last) tokens = Math.min(capacity, tokens + (t - last) * rate / 1000)
    last = Math.max(last, t)
  }

  return {
    rate,
    capacity,
    take (n: number): number {
      if (unlimited) return 0
      refill()
      tokens -= n
      return tokens >= 0 ? 0 : Math.ceil(-tokens * 1000 / rate)
    },
    available (): number {
      if (unlimited) return Infinity
      refill()
      return tokens
    }
  }
}
