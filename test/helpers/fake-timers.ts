/** Fake Timers (lib/wire/wire.ts' interface): timers fire only when the test advances time. */
import type { TimerHandle, Timers } from '../../lib/wire/wire.js'

export class FakeTimers implements Timers {
  time = 0
  #nextId = 0
  readonly #timers = new Map<number, { at: number, fn: () => void }>()

  readonly now = (): number => this.time

  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const id = this.#nextId++
    this.#timers.set(id, { at: this.time + ms, fn })
    return { id } as TimerHandle
  }

  clearTimeout = (handle: TimerHandle): void => {
    this.#timers.delete((handle as { id: number }).id)
  }

  get pending (): number { return this.#timers.size }

  /** Move time forward by `ms`, firing due timers in order. */
  advance (ms: number): void {
    const target = this.time + ms
    for (;;) {
      let best: [number, { at: number, fn: () => void }] | undefined
      for (const entry of this.#timers) if (entry[1].at <= target && (best === undefined || entry[1].at < best[1].at)) best = entry
      if (best === undefined) break
      this.#timers.delete(best[0])
      this.time = best[1].at
      best[1].fn()
    }
    this.time = target
  }
}
