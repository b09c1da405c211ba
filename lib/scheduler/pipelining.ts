/**
 * Request pipelining: how many requests to keep outstanding at one peer, and when to top its queue up (pure).
 *
 * Depth (libtorrent's rule): the peer's download rate × `requestQueueTime` seconds, in blocks, at least
 * `minRequestsPerPeer`, at most `maxRequestsPerPeer` and the peer's advertised `reqq` (BEP 10); a snubbed peer
 * gets one.
 * Top-ups go out in batches: a quarter of the depth, at most `refillBatch` requests, once that much room is free.
 * One request per arriving block cost a socket write per socket read; a batch is one write for several. The room
 * counts the shared in-flight budget too, so when the budget binds (one fast peer) requests still go in batches.
 */
export interface PipeliningOptions {
  /** Seconds of a peer's rate to keep requested (libtorrent's request_queue_time). */
  requestQueueTime: number
  minRequestsPerPeer: number
  maxRequestsPerPeer: number
  /** Requests sent together at most when topping a queue up. */
  refillBatch: number
}

export const PIPELINING_DEFAULTS: Readonly<PipeliningOptions> = Object.freeze({
  requestQueueTime: 1,
  minRequestsPerPeer: 16,
  maxRequestsPerPeer: 512,
  refillBatch: 32
})

export interface PeerPace {
  /** Bytes/s the peer delivers. */
  rate: number
  /** Requests it accepts outstanding (its reqq). */
  reqq: number
  snubbed: boolean
}

export function requestDepth (peer: PeerPace, blockLength: number, opts: PipeliningOptions = PIPELINING_DEFAULTS): number {
  if (peer.snubbed) return 1
  const byRate = Math.ceil(peer.rate * opts.requestQueueTime / blockLength)
  const cap = Math.min(opts.maxRequestsPerPeer, peer.reqq)
  return Math.max(1, Math.min(cap, Math.max(opts.minRequestsPerPeer, byRate)))
}

/**
 * How many requests to send now: 0 until the room (the peer's free depth, bounded by the shared budget's `budget`
 * blocks) reaches a batch, unless the queue is empty.
 */
export function requestsToSend (outstanding: number, depth: number, budget: number, opts: PipeliningOptions = PIPELINING_DEFAULTS): number {
  const room = Math.min(depth - outstanding, budget)
  if (room <= 0) return 0
  if (outstanding > 0 && room < Math.min(opts.refillBatch, Math.ceil(depth / 4))) return 0
  return room
}
