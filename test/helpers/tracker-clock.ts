/** A fake Clock for the Announcer: time moves only when the test calls `advance`. */
import type { Clock } from '../../lib/tracker/index.js'

export class FakeClock implements Clock {
  #now = 1_000_000
  #timers: { at: number, fn: () => void, id: number }[] = []
  #nextId = 0

  now (): number {
    return this.#now
  }

  schedule (fn: () => void, ms: number): () => void {
    const id = this.#nextId++
    this.#timers.push({ at: this.#now + ms, fn, id })
    return () => { this.#timers = this.#timers.filter((timer) => timer.id !== id) }
  }

  /** Timers still scheduled. */
  get pending (): number {
    return this.#timers.length
  }

  /** When the next timer is due, relative to now (undefined if none). */
  get nextIn (): number | undefined {
    const next = Math.min(...this.#timers.map((timer) => timer.at))
    return Number.isFinite(next) ? next - this.#now : undefined
  }

  /** Move time forward, firing due timers in order. */
  advance (ms: number): void {
    const target = this.#now + ms
    for (;;) {
      const due = this.#timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      this.#timers = this.#timers.filter((timer) => timer.id !== due.id)
      this.#now = due.at
      due.fn()
    }
    this.#now = target
  }
}
