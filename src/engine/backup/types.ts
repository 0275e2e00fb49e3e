/**
 * What a backup takes and gives: its options, the sink it reports through, its result. Kept
 * apart from archiver.ts so that the walker and the tree saver can name them without importing
 * the coordinator that imports them.
 */
import type {
  ClientCache,
  CompressionMode,
  Repository,
  Snapshot,
} from "../../repo/index.js";
import type { Prewalk } from "./prewalk.js";
import type { StdinSource } from "./stdin-source.js";

export interface BackupProgress {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly bytesAdded: number;
  readonly current: string;
}

/** A file that was read because the cache did not know it unchanged (for -v). */
export interface SavedFile {
  /** The file's absolute path, as bytes. */
  readonly path: Uint8Array;
  /**
   * "new" when this machine's files cache has no record of the path (every file of a first
   * backup from here, or after a prune, which makes the cache forget), else "changed".
   */
  readonly change: "new" | "changed";
}

export interface BackupSink {
  /** After each directory: the run's counters so far. */
  progress(progress: BackupProgress): void;
  /**
   * Optional, and called often (a file starts being read, then each chunk of it): the same
   * counters, `current` naming the file, for a display that redraws on its own schedule.
   */
  reading?(progress: BackupProgress): void;
  /** Optional: each new or changed file once it has been read (-v lists them). */
  saved?(file: SavedFile): void;
  warn(message: string): void;
}

export interface BackupOptions {
  readonly repo: Repository;
  readonly cache: ClientCache;
  /** The newest head the client knows: the new snapshot follows it in the chain. */
  readonly head: Snapshot | undefined;
  readonly sources: readonly string[];
  /** Back up this stream as the snapshot's one file instead of `sources` (which must be empty). */
  readonly stdin?: StdinSource;
  readonly excludes?: readonly string[];
  /** Skip the contents of directories holding a valid CACHEDIR.TAG (cache-tags.ts). */
  readonly excludeCaches?: boolean;
  /** Skip regular files larger than this many bytes (--exclude-larger-than). */
  readonly excludeLargerThan?: number;
  /** Stay on each source's device: mount points are kept empty (--one-file-system). */
  readonly oneFileSystem?: boolean;
  readonly tags?: readonly string[];
  readonly time?: Date;
  readonly host?: string;
  readonly dryRun?: boolean;
  /** For every blob of the run: data, trees and the snapshot (default "auto"). */
  readonly compression?: CompressionMode;
  readonly sink: BackupSink;
  /** How long to wait for a prune's exclusive lock to go (default: fail at once, exit 11). */
  readonly lockWaitMs?: number;
  /**
   * Runs after every blob is durable and right before the snapshot is written. Tests use it
   * to interleave a prune deterministically; the lock check runs after it.
   */
  readonly beforeCommit?: () => Promise<void>;
  /** Listings made while the repository unlocked (prewalk.ts); stopped when the walk starts. */
  readonly prewalk?: Prewalk;
  /**
   * Whether a directory walked again may load the tree an earlier run made of it, to take its
   * unchanged inline files' bytes from there (default false: they are read again, in the
   * directory's batches, their digests made in the sealing worker). Over a connection every
   * such tree is a download; and since tree format 5 derives checksums, checking an earlier
   * tree's bytes against the files cache costs two HMACs a file on the main thread, which made
   * a local C of 50,000 small files slower than reading them again (docs/performance.md,
   * "Reading unchanged small files again"). Kept for a disk where reads are dear.
   */
  readonly reuseEarlierTrees?: boolean;
}

export interface BackupResult {
  /** Undefined for a dry run. */
  readonly snapshot: Snapshot | undefined;
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly blobsAdded: number;
  readonly bytesAdded: number;
  readonly bytesStored: number;
  /** Of `files`: read as new, read as changed (SavedFile); the rest were unchanged. */
  readonly filesNew: number;
  readonly filesChanged: number;
  /** Files or directories that could not be read and were skipped. */
  readonly warnings: number;
}

/** What the walk counted, for progress, the snapshot's stats and the result. */
export interface BackupTally {
  files: number;
  dirs: number;
  bytes: number;
  /** Files read as new or as changed (SavedFile), of `files`. */
  filesNew: number;
  filesChanged: number;
  /** Files or directories that could not be read and were skipped. */
  warnings: number;
  /** Entries skipped with a message but not counted as warnings (sockets, devices, fifos). */
  notices: number;
}
