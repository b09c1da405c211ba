/**
 * One clock for everything that times something: the wire's timeouts, the scheduler's snubbing, the choker's
 * rechoke, the swarm's retry schedule, the trackers' intervals. `now()` in milliseconds and `schedule(fn, ms)`
 * returning a function that cancels it; a scheduled function never keeps the process alive (the real clock's timers
 * are unref'd). Tests pass a fake clock (test/helpers/fake-clock.ts) and advance it by hand, so nothing sleeps.
 */

/** Cancels a scheduled call; calling it again, or after the call ran, does nothing. */
export type Cancel = () => void

export interface Clock {
  now: () => number
  /** Run `fn` once after `ms`. */
  schedule: (fn: () => void, ms: number) => Cancel
}

/** setTimeout's delay is a signed 32-bit number of ms; longer delays fire at once, so they are capped (≈24.8 days). */
const MAX_DELAY = 2 ** 31 - 1

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  schedule (fn: () => void, ms: number): Cancel {
    const timer = setTimeout(fn, Math.min(MAX_DELAY, Math.max(0, ms)))
    timer.unref()
    return () => clearTimeout(timer)
  }
})

/** Run `fn` every `ms` on `clock` until the returned function is called. */
export function every (clock: Clock, ms: number, fn: () => void): Cancel {
  let cancel: Cancel | null = null
  let stopped = false
  const tick = (): void => {
    if (stopped) return
    cancel = clock.schedule(tick, ms)
    fn()
  }
  cancel = clock.schedule(tick, ms)
  return () => {
    stopped = true
    cancel?.()
  }
}

/** A promise that resolves after `ms` on `clock`. */
export async function sleep (clock: Clock, ms: number): Promise<void> {
  await new Promise<void>((resolve) => { clock.schedule(resolve, ms) })
}

/**
 * Calls of the returned `soon` within one event-loop turn run `fn` once, after the turn's I/O callbacks
 * (setImmediate, not the clock: no time passes). `cancel` drops a pending run. For work that each of many
 * callbacks would otherwise do alone: the scheduler's refill and the torrent's `have`s after pieces are written, the
 * piece worker's message of a turn's jobs.
 */
export function oncePerTurn (fn: () => void): { soon: () => void, cancel: Cancel } {
  let pending: NodeJS.Immediate | null = null
  return {
    soon () {
      if (pending !== null) return
      pending = setImmediate(() => {
        pending = null
        fn()
      })
    },
    cancel () {
      if (pending !== null) clearImmediate(pending)
      pending = null
    }
  }
}
