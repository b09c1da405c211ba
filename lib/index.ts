/**
 * zentorrent's public API: the stages, each usable alone, the torrent object that composes them, and the client
 * that adds peer sources. Internals (codecs, parsers' helpers, the pipelining arithmetic) are not exported here.
 *
 *   const torrent = new Torrent(parseMetainfo(bytes), { output: './out' })   // or startTorrent(meta, opts)
 *   torrent.files[0].createReadStream({ start, end })                         // verified bytes, consumer-paced
 *
 * The README shows the stages composed by hand: createLedger, createScheduler, createVerifier, createSink.
 */
export { ZentorrentError, isZentorrentError, type ErrorCode } from './errors.js'
export { parseMetainfo, parseInfoDictionary, pieceHash, pieceSize, type Metainfo, type TorrentFile } from './metainfo.js'
export { createFileMap, type FileMap, type FileSpan } from './file-map.js'
export { BLOCK_LENGTH, createGeometry, type PieceGeometry } from './geometry.js'
export { systemClock, type Clock, type Cancel } from './clock.js'
export { addressKey, type PeerAddress } from './peers/address.js'

// the stages
export { PieceLedger, createLedger, PieceState, BlockState, PRIORITY, type LedgerChange } from './ledger.js'
export { Picker, PICKER_DEFAULTS, type PickerOptions, type PickOptions, type PeerView, type BlockRequest } from './scheduler/picker.js'
export { Scheduler, createScheduler, SCHEDULER_DEFAULTS, type SchedulerOptions, type SchedulerEvents, type PeerWire } from './scheduler/scheduler.js'
export { Verifier, createVerifier, VERIFIER_DEFAULTS, type Block, type VerifiedPiece, type VerifierOptions, type PieceHasher } from './verify.js'
export { Sink, createSink, SINK_DEFAULTS, type SinkOptions } from './sink.js'
export { FileStore, MemoryStore, FILE_STORE_DEFAULTS, type PieceStore, type FileStoreOptions } from './store/index.js'
export { PieceWorker } from './piece-worker.js'
export { checkExisting, type CheckProgress } from './resume.js'
export { FileReadStream, FILE_STREAM_DEFAULTS, type FileReadOptions } from './file-stream.js'

// peers
export { Wire, WIRE_DEFAULTS, type WireOptions, type WireEvents } from './wire/wire.js'
export { connect, dial, type ConnectOptions, type Dial } from './wire/connect.js'
export { generatePeerId } from './wire/handshake.js'
export { BitField } from './wire/bitfield.js'
export { Uploader, UPLOADER_DEFAULTS, type UploaderOptions, type UploadSource } from './uploader.js'
export { createChoker, CHOKER_DEFAULTS, type Choker, type ChokerOptions } from './choker.js'
export { createTokenBucket, type TokenBucket } from './rate-limit.js'
export { throttle } from './throttle.js'
export { Swarm, SWARM_DEFAULTS } from './swarm.js'
export { Listener, DEFAULT_PORTS } from './listener.js'
export { Announcer, ANNOUNCER_DEFAULTS, createTrackerClient, type AnnounceReport, type TrackerErrorReport } from './tracker/index.js'

// compositions
export { Torrent, TorrentFileHandle, type TorrentOptions, type TorrentStats, type TorrentEvents } from './torrent.js'
export { startTorrent, type StartOptions, type RunningTorrent } from './client.js'
export { createTorrent, makeTorrent, type CreateTorrentOptions, type CreatedTorrent, type HashProgress } from './create.js'
export { VERSION } from './version.js'

// naming a torrent: magnet links, info hashes, URLs, paths; and BEP 9 metadata exchange
export {
  base32Encode, formatMagnet, formatSelectOnly, isInfoHash, isMagnetUri, magnetOf, parseInfoHash, parseMagnet,
  parsePeerAddress, parseSelectOnly, selectOnlyIndexes, type IndexRange, type InfoHashV2, type MagnetFields,
  type MagnetLink, type MagnetPeer
} from './magnet.js'
export {
  fetchTorrentFile, readTorrentFile, resolveTorrentInput, withMetadata, TORRENT_INPUT_DEFAULTS, type TorrentInput,
  type TorrentInputOptions, type TorrentSources
} from './torrent-input.js'
export { encodeTorrentFile, type TorrentFileOptions } from './torrent-file.js'
export { composeExtendedHandshake, LOCAL_EXTENSION_IDS, peerExtensionId, type ExtensionName, type HandshakePart } from './wire/extensions.js'
export * from './metadata/index.js'
export { fetchMetadata, FETCH_METADATA_DEFAULTS, type FetchMetadataOptions, type MetadataQuery } from './metadata/fetch-metadata.js'

// streaming: an HTTP server over a torrent, reader deadlines and their routing, the policies compared by the bench
export { createHttpServer, TorrentHttpServer, HTTP_DEFAULTS, type HttpServerOptions, type ServedTorrent, type ServedFile } from './http/server.js'
export { DeadlineBoard, DEADLINE_DEFAULTS, type DeadlineOptions, type DeadlineReader, type ReaderDeadlineOptions } from './streaming/deadlines.js'
export { DeadlineRouter, ROUTER_DEFAULTS, type RouterOptions, type RequestRouter, type RoutedPeer } from './streaming/router.js'
export { policyOptions, STREAM_POLICIES, type StreamPolicy, type StreamingOptions } from './streaming/policy.js'
