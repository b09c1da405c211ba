/** A fake Clock (lib/clock.ts): time moves only when the test calls `advance`; due calls run in time order. */
import type { Cancel, Clock } from '../../lib/clock.js'

export class FakeClock implements Clock {
  #now: number
  #timers: Array<{ at: number, fn: () => void, id: number }> = []
  #nextId = 0

  constructor (start = 1_000_000) {
    this.#now = start
  }

  readonly now = (): number => this.#now

  readonly schedule = (fn: () => void, ms: number): Cancel => {
    const id = this.#nextId++
    this.#timers.push({ at: this.#now + Math.max(0, ms), fn, id })
    return () => { this.#timers = this.#timers.filter((timer) => timer.id !== id) }
  }

  /** Calls still scheduled. */
  get pending (): number {
    return this.#timers.length
  }

  /** When the next call is due, relative to now (undefined if none). */
  get nextIn (): number | undefined {
    const next = Math.min(...this.#timers.map((timer) => timer.at))
    return Number.isFinite(next) ? next - this.#now : undefined
  }

  /** Move time forward by `ms`, running due calls in order (a call may schedule more, which run if due). */
  advance (ms: number): void {
    const target = this.#now + ms
    for (;;) {
      const due = this.#timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (due === undefined) break
      this.#timers = this.#timers.filter((timer) => timer.id !== due.id)
      this.#now = due.at
      due.fn()
    }
    this.#now = target
  }
}
