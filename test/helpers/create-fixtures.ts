/**
 * Fixtures for the create/choker tests: a seeded PRNG (mulberry32) so every run sees the same data and the
 * same "random" draws, and a generator that writes a file tree from a spec.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function seededRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function seededBytes (length: number, seed: number): Buffer {
  const random = seededRandom(seed)
  const buf = Buffer.alloc(length)
  for (let i = 0; i < length; i++) buf[i] = Math.floor(random() * 256)
  return buf
}

/** Write `files` (relative '/'-separated path → length) under `root`, each with its own seeded content. */
export async function writeTree (root: string, files: Record<string, number>, seed = 1): Promise<void> {
  let n = 0
  for (const [path, length] of Object.entries(files)) {
    const full = join(root, ...path.split('/'))
    await mkdir(dirname(full), { recursive: true })
    await writeFile(full, seededBytes(length, seed * 1000 + n++))
  }
}
