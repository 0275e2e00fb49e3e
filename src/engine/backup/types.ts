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

export interface BackupSink {
  progress(progress: BackupProgress): void;
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
  /** Files or directories that could not be read and were skipped. */
  readonly warnings: number;
}

/** What the walk counted, for progress, the snapshot's stats and the result. */
export interface BackupTally {
  files: number;
  dirs: number;
  bytes: number;
  /** Files or directories that could not be read and were skipped. */
  warnings: number;
  /** Entries skipped with a message but not counted as warnings (sockets, devices, fifos). */
  notices: number;
}
