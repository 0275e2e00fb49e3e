/**
 * chunker: content-defined chunking (FastCDC with normalized chunking), its gear table keyed by
 * the repository's chunker key so that cut points are secret. Pure computation over bytes.
 * May import src/crypto, src/errors.ts and src/util; nothing above.
 */

export {
  Chunker,
  DEFAULT_CHUNKER_PARAMS,
  checkChunkerParams,
  chunkBuffer,
  gearTableFromKey,
  maxChunkSize,
  type ChunkerParams,
} from "./fastcdc.js";
