/** BEP 9 metadata exchange: the ut_metadata codec, the per-wire extension, the fetcher and the session's exchange. */
export {
  checkMetadataSize, decodeMetadataMessage, encodeMetadataMessage, MAX_METADATA_SIZE, METADATA_PIECE_LENGTH,
  metadataPieceCount, metadataPieceLength, MetadataMessageType, type MetadataMessage
} from './codec.js'
export {
  metadataHandshakePart, UT_METADATA, UT_METADATA_DEFAULTS, UtMetadata, type MetadataPeer, type MetadataPeerEvents,
  type UtMetadataOptions
} from './extension.js'
export {
  METADATA_FETCHER_DEFAULTS, MetadataFetcher, metadataTimeoutError, type MetadataFetcherEvents,
  type MetadataFetcherOptions, type MetadataFetchStats
} from './fetcher.js'
export { MetadataExchange, type MetadataExchangeEvents, type MetadataExchangeOptions } from './exchange.js'
