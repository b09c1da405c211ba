/**
 * How readers steer the download (TorrentOptions.streaming), and the named policies the streaming benchmark
 * compares (bench/streaming.ts), selectable in any zentorrent process by the environment variable
 * `ZENTORRENT_STREAM_POLICY` (an advanced knob for experiments; unset means `deadline`, the default behaviour):
 *
 * - `rarest`:     readers steer nothing — pure rarest-first (BitTorrent's order; a reader just waits for its bytes);
 * - `sequential`: pieces in index order (the picker's chain with availability off and the tie-break key = index);
 *                 readers steer nothing more;
 * - `window`:     a reader raises the pieces of its readahead window (lib/file-stream.ts) to the top priority,
 *                 rarest-first inside it and outside (Shah & Pâris' sliding window);
 * - `deadline`:   the window, plus deadlines for the pieces just ahead of each reader routed to the peers that
 *                 deliver them in time, late ones duplicated (./deadlines.ts, ./router.ts).
 * `ZENTORRENT_STREAM_READAHEAD` (bytes) sets the readers' window instead of lib/file-stream.ts's default, and
 * `ZENTORRENT_STREAM_HORIZON` (ms) the deadline horizon instead of DEADLINE_DEFAULTS' (the benchmark scales both
 * with its time).
 */
import type { DeadlineOptions } from './deadlines.js'
import type { RouterOptions } from './router.js'
import type { PickerOptions } from '../scheduler/picker.js'
import { ZentorrentError } from '../errors.js'

export interface StreamingOptions {
  /** Readers raise the pieces just ahead of them to the top priority (default true). */
  readahead?: boolean
  /** Readers give the pieces just ahead of them deadlines, routed by ./router.ts (default on); false: none. */
  deadlines?: Partial<DeadlineOptions> | false
  router?: Partial<RouterOptions>
  /** Pieces in index order instead of rarest-first (the `sequential` policy: a baseline, not for real use). */
  sequential?: boolean
  /** Bytes of a reader's window when its options do not say (default lib/file-stream.ts's). */
  readaheadBytes?: number
}

export const STREAM_POLICIES = ['rarest', 'sequential', 'window', 'deadline'] as const
export type StreamPolicy = typeof STREAM_POLICIES[number]
export const STREAM_POLICY_ENV = 'ZENTORRENT_STREAM_POLICY'
export const STREAM_READAHEAD_ENV = 'ZENTORRENT_STREAM_READAHEAD'
export const STREAM_HORIZON_ENV = 'ZENTORRENT_STREAM_HORIZON'

/** The torrent's streaming options (TorrentOptions.streaming) for a policy. */
export function policyOptions (policy: StreamPolicy): StreamingOptions {
  switch (policy) {
    case 'rarest': return { readahead: false, deadlines: false }
    case 'sequential': return { readahead: false, deadlines: false, sequential: true }
    case 'window': return { readahead: true, deadlines: false }
    case 'deadline': return { readahead: true }
  }
}

/** `{ streaming }` for startTorrent when ZENTORRENT_STREAM_POLICY or _READAHEAD is set, else nothing (the defaults). */
export function streamingFromEnv (env: NodeJS.ProcessEnv = process.env): { streaming?: StreamingOptions } {
  const policy = policyFromEnv(env)
  const readahead = positiveFromEnv(env, STREAM_READAHEAD_ENV)
  const horizon = positiveFromEnv(env, STREAM_HORIZON_ENV)
  if (policy === null && readahead === null && horizon === null) return {}
  const streaming: StreamingOptions = policy === null ? {} : policyOptions(policy)
  if (readahead !== null) streaming.readaheadBytes = readahead
  if (horizon !== null && streaming.deadlines !== false) streaming.deadlines = { ...streaming.deadlines, horizon }
  return { streaming }
}

function positiveFromEnv (env: NodeJS.ProcessEnv, name: string): number | null {
  const text = env[name]
  if (text === undefined || text === '') return null
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n <= 0) throw new ZentorrentError('BAD_ARGUMENT', `${name} must be a positive whole number, got "${text}"`)
  return n
}

/**
 * The picker's chain in index order: the random phase never ends (availability, term 4, is never looked at) and
 * the tie-break keys (term 5) are the indexes, so among equal priorities the lowest index comes first.
 */
export function sequentialPicker (): PickerOptions {
  return { initialRandomPieces: Number.MAX_SAFE_INTEGER, order: 'index' }
}

/** The policy `env` names (ZENTORRENT_STREAM_POLICY), or null when unset. */
export function policyFromEnv (env: NodeJS.ProcessEnv = process.env): StreamPolicy | null {
  const value = env[STREAM_POLICY_ENV]
  if (value === undefined || value === '') return null
  if (!(STREAM_POLICIES as readonly string[]).includes(value)) {
    throw new ZentorrentError('BAD_ARGUMENT', `${STREAM_POLICY_ENV} must be one of ${STREAM_POLICIES.join(', ')}, got "${value}"`)
  }
  return value as StreamPolicy
}
