/**
 * A .torrent file for a torrent we know (pure): what `--save-torrent FILE` writes after a magnet link's metadata
 * arrived, so other clients can open the torrent without fetching it again.
 *
 * The info dictionary is written as the exact bytes we have (fetched and SHA1-checked, or read from a .torrent):
 * never decoded and re-encoded, since re-encoding sorts keys and drops nothing, which changes the info hash of a
 * torrent whose dictionary is not canonical. The rest of the top-level dictionary is ours, keys in sorted order
 * (BEP 3): `announce` (the first tracker) and, with more than one, `announce-list` (BEP 12 tiers); `comment`;
 * `created by`; `creation date` when asked for; `url-list` (BEP 19).
 */
import bencode from 'bencode'
import { ZentorrentError } from './errors.js'
import type { Metainfo } from './metainfo.js'
import { scanBencode } from './bencode-scan.js'
import { VERSION } from './version.js'

export interface TorrentFileOptions {
  /** BEP 12 tiers; default the metainfo's `announce`. */
  trackers?: readonly (readonly string[])[]
  /** BEP 19 web seeds; default the metainfo's `urlList`. */
  webSeeds?: readonly string[]
  /** Default `zentorrent/VERSION`; '' leaves it out. */
  createdBy?: string
  /** Left out by default (the same metadata always gives the same file). */
  creationDate?: Date
  /** Default the metainfo's comment. */
  comment?: string
}

function encoded (value: unknown): Buffer {
  const u8 = bencode.encode(value)
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

/** The bytes of a .torrent holding `meta.infoBytes` unchanged. */
export function encodeTorrentFile (meta: Metainfo, opts: TorrentFileOptions = {}): Buffer {
  const info = meta.infoBytes
  const scan = scanBencode(info)
  if (scan.type !== 'dict' || scan.end !== info.length) {
    throw new ZentorrentError('BAD_ARGUMENT', 'the info bytes are not exactly one bencoded dictionary')
  }
  const tiers = (opts.trackers ?? meta.announce).map((tier) => tier.filter((url) => url !== '')).filter((tier) => tier.length > 0)
  const webSeeds = opts.webSeeds ?? meta.urlList
  const createdBy = opts.createdBy ?? `zentorrent/${VERSION}`
  const comment = opts.comment ?? meta.comment

  // Keys in byte order, as BEP 3 requires of every dictionary.
  const entries: Array<[string, Buffer]> = []
  const first = tiers[0]?.[0]
  if (first !== undefined) entries.push(['announce', encoded(first)])
  if (tiers.flat().length > 1) entries.push(['announce-list', encoded(tiers.map((tier) => [...tier]))])
  if (comment !== undefined && comment !== '') entries.push(['comment', encoded(comment)])
  if (createdBy !== '') entries.push(['created by', encoded(createdBy)])
  if (opts.creationDate !== undefined) entries.push(['creation date', encoded(Math.floor(opts.creationDate.getTime() / 1000))])
  entries.push(['info', info])
  if (webSeeds.length > 0) entries.push(['url-list', encoded([...webSeeds])])

  const parts: Buffer[] = [Buffer.from('d')]
  for (const [key, value] of entries) parts.push(encoded(key), value)
  parts.push(Buffer.from('e'))
  return Buffer.concat(parts)
}
