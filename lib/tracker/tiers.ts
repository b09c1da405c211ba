/**
 * BEP 12 multitracker order.
 *
 * "The tiers of announces will be processed sequentially; all URLs in each tier must be checked before the client
 * goes on to the next tier. URLs within each tier will be processed in a randomly chosen order; in other words,
 * the list will be shuffled when first read, and then parsed in order. ... If a connection with a tracker is
 * successful, it will be moved to the front of the tier."
 *
 * A URL whose scheme we do not speak (wss:// of WebTorrent, a typo) is left out and reported to the caller, who
 * turns it into a warning: a torrent listing one exotic tracker among good ones must still work. A URL listed
 * twice (in two tiers, say) is kept at its first place only.
 */
import { createTrackerClient, trackerScheme } from './client.js'

export class TrackerTiers {
  readonly #tiers: string[][]
  /** URLs left out, with the reason, in the order met. */
  readonly skipped: readonly { url: string, reason: string }[]

  /** `random` returns a number in [0, 1) like Math.random; tests pass a seeded one. */
  constructor (tiers: readonly (readonly string[])[], random: () => number = Math.random) {
    const seen = new Set<string>()
    const skipped: { url: string, reason: string }[] = []
    this.#tiers = []
    for (const tier of tiers) {
      const kept: string[] = []
      for (const raw of tier) {
        const url = raw.trim()
        if (url === '' || seen.has(url)) continue
        seen.add(url)
        if (trackerScheme(url) === null || !isBuildable(url)) {
          skipped.push({ url, reason: `unsupported tracker URL ${url} skipped` })
          continue
        }
        kept.push(url)
      }
      if (kept.length > 0) this.#tiers.push(shuffle(kept, random))
    }
    this.skipped = skipped
  }

  /** The tiers in their current order (a copy). */
  get tiers (): string[][] {
    return this.#tiers.map((tier) => [...tier])
  }

  /** Every URL in the order BEP 12 tries them. */
  get urls (): string[] {
    return this.#tiers.flat()
  }

  get size (): number {
    return this.#tiers.reduce((n, tier) => n + tier.length, 0)
  }

  /** BEP 12: a tracker that answered moves to the front of its tier. */
  promote (url: string): void {
    for (const tier of this.#tiers) {
      const at = tier.indexOf(url)
      if (at > 0) {
        tier.splice(at, 1)
        tier.unshift(url)
      }
      if (at >= 0) return
    }
  }
}

function isBuildable (url: string): boolean {
  try {
    createTrackerClient(url).close()
    return true
  } catch {
    return false
  }
}

/** Fisher–Yates with the injected source of randomness. */
function shuffle<T> (items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = items[i]!
    items[i] = items[j]!
    items[j] = swap
  }
  return items
}
