/** Where pieces are kept: the PieceStore seam and its two implementations. */
export type { PieceStore } from './piece-store.js'
export { FileStore, FILE_STORE_DEFAULTS, type FileStoreOptions } from './file-store.js'
export { MemoryStore } from './memory-store.js'
