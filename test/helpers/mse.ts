/**
 * Helpers for the MSE tests: seeded random bytes (so handshakes are exact), the three ways every parser is fed
 * (whole, one byte at a time, odd random chunks), and a driver that runs an initiator and a responder machine
 * against each other in memory.
 */
import type { HandshakeResult, MseInitiator, MseResponder } from '../../lib/wire/mse/index.js'
import { seededRandom } from './create-fixtures.js'

/** A `random(size)` for the handshake: seeded, so the same seed gives the same keys and padding. */
export function seededRandomBytes (seed: number): (size: number) => Buffer {
  const next = seededRandom(seed)
  return (size) => {
    const b = Buffer.alloc(size)
    for (let i = 0; i < size; i++) b[i] = Math.floor(next() * 256)
    return b
  }
}

export type Split = (bytes: Buffer) => Buffer[]

export const SPLITS: Record<string, (seed: number) => Split> = {
  whole: () => (b) => [b],
  'byte by byte': () => (b) => [...b].map((x) => Buffer.from([x])),
  'odd random chunks': (seed) => {
    const next = seededRandom(seed)
    return (b) => {
      const out: Buffer[] = []
      for (let i = 0; i < b.length;) {
        const n = 1 + Math.floor(next() * 97)
        out.push(b.subarray(i, i + n))
        i += n
      }
      return out
    }
  }
}

/**
 * Run both machines to completion, delivering each side's output to the other cut by `split`; returns both
 * results and what each side sent (A→B starting with `a.start()`).
 */
export function handshakeInMemory (a: MseInitiator, b: MseResponder, split: Split):
  { initiator: HandshakeResult, responder: HandshakeResult, sentByA: Buffer, sentByB: Buffer } {
  const sentByA: Buffer[] = [a.start()]
  const sentByB: Buffer[] = []
  let toB: Buffer[] = [...sentByA]
  let toA: Buffer[] = []
  for (let round = 0; round < 10 && (a.result === null || b.result === null); round++) {
    for (const part of toB.flatMap(split)) {
      const out = b.receive(part)
      if (out !== null) { sentByB.push(out); toA.push(out) }
    }
    toB = []
    for (const part of toA.flatMap(split)) {
      const out = a.receive(part)
      if (out !== null) { sentByA.push(out); toB.push(out) }
    }
    toA = []
  }
  if (a.result === null || b.result === null) throw new Error('the handshake did not complete in memory')
  return { initiator: a.result, responder: b.result, sentByA: Buffer.concat(sentByA), sentByB: Buffer.concat(sentByB) }
}

/** `p`, or a rejection naming `what` after `ms`. */
export async function bounded<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  return await Promise.race([p, timeout]).finally(() => { clearTimeout(timer) })
}

/** Resolves once `cond()` holds (polled every 5 ms); rejects naming `what` after `ms`. */
export async function until (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
