/** One factory for "a tracker at this URL", whatever its scheme. */
import { ZentorrentError } from '../errors.js'
import { HttpTracker, type HttpTrackerOptions } from './http.js'
import { UdpTracker, type UdpTrackerOptions } from './udp.js'
import type { TrackerClient } from './types.js'

export interface TrackerClientOptions {
  http?: HttpTrackerOptions
  udp?: UdpTrackerOptions
}

export type TrackerScheme = 'http' | 'udp'

/** The kind of client a URL needs, or null when we cannot speak to it (wss://, dht://, a typo). */
export function trackerScheme (url: string): TrackerScheme | null {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase()
  if (scheme === 'http' || scheme === 'https') return 'http'
  if (scheme === 'udp') return 'udp'
  return null
}

/** An HTTP(S) or UDP tracker client; TRACKER_UNSUPPORTED for any other scheme or a malformed URL. */
export function createTrackerClient (url: string, options: TrackerClientOptions = {}): TrackerClient {
  const scheme = trackerScheme(url)
  if (scheme === 'http') return new HttpTracker(url, options.http)
  if (scheme === 'udp') return new UdpTracker(url, options.udp)
  throw new ZentorrentError('TRACKER_UNSUPPORTED', `unsupported tracker URL scheme: ${url}`)
}
