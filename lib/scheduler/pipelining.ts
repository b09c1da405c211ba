/**
 * Request pipelining: how many requests to keep outstanding at one peer, and when to top its queue up (pure).
 *
 * Depth (libtorrent's rule): the peer's download rate × `requestQueueTime` seconds, in blocks, at least
 * `minRequestsPerPeer`, at most `maxRequestsPerPeer` and the peer's advertised `reqq` (BEP 10); a snubbed peer
 * gets one.
 * While a reader streams (any piece has a deadline), the floor is `streamingMinRequests` instead: a peer serves
 * requests in order, so an urgent request waits behind every one already queued there, and at the rates a
 * streaming swarm's connections run at (a seed or leecher whose upload is shared by several peers: 60–100 KiB/s
 * each), 16 blocks are 2.5–4 s of waiting — longer than the time between a piece's deadline being set and its due
 * time (bench/streaming.ts: every late piece traced had waited there). libtorrent's floor is 2.
 * Top-ups go out in batches: a quarter of the depth, at most `refillBatch` requests, once that much room is free.
 * One request per arriving block cost a socket write per socket read; a batch is one write for several. The room
 * counts the shared in-flight budget too, so when the budget binds (one fast peer) requests still go in batches.
 */
export interface PipeliningOptions {
  /** Seconds of a peer's rate to keep requested (libtorrent's request_queue_time). */
  requestQueueTime: number
  minRequestsPerPeer: number
  /** The floor while a reader streams (deadlines exist): short queues, so urgent requests do not wait. */
  streamingMinRequests: number
  maxRequestsPerPeer: number
  /** Requests sent together at most when topping a queue up. */
  refillBatch: number
}

export const PIPELINING_DEFAULTS: Readonly<PipeliningOptions> = Object.freeze({
  requestQueueTime: 1,
  minRequestsPerPeer: 16,
  streamingMinRequests: 2,
  maxRequestsPerPeer: 512,
  refillBatch: 32
})

export interface PeerPace {
  /** Bytes/s the peer delivers. */
  rate: number
  /** Requests it accepts outstanding (its reqq). */
  reqq: number
  snubbed: boolean
  /** Some piece has a deadline: the streaming floor applies. */
  streaming?: boolean
}

export function requestDepth (peer: PeerPace, blockLength: number, opts: PipeliningOptions = PIPELINING_DEFAULTS): number {
  if (peer.snubbed) return 1
  const byRate = Math.ceil(peer.rate * opts.requestQueueTime / blockLength)
  const cap = Math.min(opts.maxRequestsPerPeer, peer.reqq)
  const floor = peer.streaming === true ? opts.streamingMinRequests : opts.minRequestsPerPeer
  return Math.max(1, Math.min(cap, Math.max(floor, byRate)))
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
