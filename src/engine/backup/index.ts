/**
 * engine/backup/: makes a snapshot of local sources, in restic's archiver shape. This file is
 * the folder's only import surface. Its parts, each with one job:
 *
 * - archiver.ts: backup(), the coordinator: the shared lock, the worker pool, the stages
 *   below joined, the result;
 * - sources.ts: what lands where (one directory's contents at the root, several sources each
 *   under its base name), the sources checked before anything is read;
 * - walker.ts: the walk (listings from prewalk.ts or listing.ts, exclusions from excludes.ts),
 *   deciding what to read: the directory cache (dir-digest.ts) and the files cache
 *   (file-identity.ts) answer first; entries.ts makes the tree entries;
 * - file-saver.ts: the read routes of a new or changed file, through the one chunk stream
 *   (chunk-stream.ts: bytes in, (id, view) chunks out), on the main thread or, for a large
 *   changed file, in a worker that carries back only the chunks the earlier run did not record;
 *   inline-files.ts says which small files go inside their tree instead (tree format 4);
 * - blob-saver.ts: batches blobs, asks the store which it lacks, seals them (seal-pool.ts and
 *   seal-worker.ts) and uploads them;
 * - stdin-source.ts: `backup --stdin`, a stream stored as the snapshot's one file;
 * - tree-saver.ts: tree blobs bottom-up, the cache records at checkpoints once their blobs are
 *   durable, the snapshot commit and the pin.
 *
 * May import repo/, chunker/, store/ and the shared leaves, and engine/locking.ts and
 * engine/fs-names.ts. Never prints: it reports through the BackupSink its caller passes.
 */
export { backup } from "./archiver.js";
export type {
  BackupOptions,
  BackupProgress,
  BackupResult,
  BackupSink,
  SavedFile,
} from "./types.js";
export { ExcludeMatcher, readPatternFile } from "./excludes.js";
export { Prewalk, type WalkTotals } from "./prewalk.js";
// For copy (engine/copy.ts), which uploads re-sealed blobs the way a backup does.
export { BlobSaver, type UploadStats } from "./blob-saver.js";
export { SealPool } from "./seal-pool.js";
export {
  checkStdinName,
  DEFAULT_STDIN_NAME,
  type StdinSource,
} from "./stdin-source.js";
export { ChunkStream, type Chunk } from "./chunk-stream.js";
export { INLINE_DIR_MAX, INLINE_FILE_MAX } from "./inline-files.js";
