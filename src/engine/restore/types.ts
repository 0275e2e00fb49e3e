/** What a caller gives restoreSnapshot() and gets back; shared by the restore modules. */
import type { Repository, Snapshot } from "../../repo/index.js";
import type { ProtectedPath } from "./protect.js";

export interface RestoreProgress {
  /** Files finished so far (written, linked or found identical). */
  readonly files: number;
  /** Bytes of file content written so far, including files that later failed verification. */
  readonly bytes: number;
  /** Known only for a whole-snapshot restore, from the snapshot's own statistics. */
  readonly totalFiles?: number;
  readonly totalBytes?: number;
}

export interface RestoreSink {
  progress(progress: RestoreProgress): void;
  /** One line, already escaped for display; each warning that is an error is counted in `errors`. */
  warn(message: string): void;
}

/** What restore needs from a repository: authenticated trees and data blobs. */
export type RestoreRepository = Pick<Repository, "load" | "loadTree">;

export interface RestoreOptions {
  readonly repo: RestoreRepository;
  readonly snapshot: Pick<Snapshot, "tree"> & Partial<Pick<Snapshot, "stats">>;
  /** Created if missing (mkdir -p); may already hold files. */
  readonly target: string;
  /** Paths relative to the snapshot root; only these subtrees (and the directories leading to them). */
  readonly include?: readonly string[];
  /** Remove what the snapshot does not have, inside the restored subtrees only. */
  readonly delete?: boolean;
  readonly sink: RestoreSink;
  /** Files fetched and written in parallel (default 64, within a 32 MiB budget of blobs). */
  readonly concurrency?: number;
  /**
   * fsync each file before renaming it (default false). It makes each file several times
   * slower to write, small files most (docs/performance.md has the measurement), and a crash
   * during a restore loses only files the user can restore again, so the default skips it.
   */
  readonly fsync?: boolean;
  /**
   * Paths no restore may delete or overwrite (the repository, the client cache): kept by the
   * delete pass, refused as a place to write, refused as the target (protect.ts).
   */
  readonly protect?: readonly ProtectedPath[];
}

export interface RestoreResult {
  /** Regular files now in place as the snapshot has them, including skippedIdentical. */
  files: number;
  /** Directories created or reused (the target itself is not counted). */
  dirs: number;
  symlinks: number;
  /** Bytes of file content written (files skipped as identical or hardlinked count nothing). */
  bytes: number;
  /** Files already present with the same size, mtime and SHA-256; only their mode was fixed. */
  skippedIdentical: number;
  /** Entries removed from the target by `delete` (a removed directory counts once). */
  deleted: number;
  /** Warnings that mean something was not restored; the CLI exits non-zero when above 0. */
  errors: number;
  /** Of `errors`, entries refused because they would have replaced a protected path. */
  refused: number;
}
