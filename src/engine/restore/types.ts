/** What a caller gives restoreSnapshot() and gets back; shared by the restore modules. */
import type { Repository, Snapshot } from "../../repo/index.js";
import type { OverwritePolicy } from "./overwrite.js";
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

/**
 * What happens to one entry: `create` where nothing stood, `overwrite` what stood there,
 * `unchanged` a file already identical (only its owner and mode fixed), `keep` what the
 * overwrite policy leaves, `delete` what `--delete` (or an entry's way) removes.
 */
export type RestoreAction =
  "create" | "overwrite" | "unchanged" | "keep" | "delete";

export interface RestoreSink {
  progress(progress: RestoreProgress): void;
  /** One line, already escaped for display; each warning that is an error is counted in `errors`. */
  warn(message: string): void;
  /**
   * Each file, symlink, new directory (its path ending in "/") and deletion, with what happens
   * to it (or, in a dry run, what would); `path` is relative to the target and escaped.
   */
  item?(action: RestoreAction, path: string): void;
}

/**
 * What restore needs from a repository: authenticated trees and data blobs, and the keyed
 * hashes and chunker that check a file against its recorded checksum (content-check.ts), and
 * the read hint the walk gives before it fetches a directory's files (expect-ahead.ts).
 */
export type RestoreRepository = Pick<
  Repository,
  "load" | "loadTree" | "blobId" | "fileChecksum" | "gear" | "config"
> &
  Partial<Pick<Repository, "expect">>;

export interface RestoreOptions {
  readonly repo: RestoreRepository;
  readonly snapshot: Pick<Snapshot, "tree"> & Partial<Pick<Snapshot, "stats">>;
  /** Created if missing (mkdir -p); may already hold files. */
  readonly target: string;
  /**
   * Only these subtrees (and the directories leading to them): paths relative to the snapshot
   * root, or gitignore-style patterns (selection.ts).
   */
  readonly include?: readonly string[];
  /** Gitignore-style patterns of what not to restore, as backup's `--exclude`. */
  readonly exclude?: readonly string[];
  /** What to do with a file or symlink already in the target (overwrite.ts; default if-changed). */
  readonly overwrite?: OverwritePolicy;
  /**
   * Decide and report everything, change nothing: no directory made (the target either), no
   * file written, fixed or deleted. The result counts what a real restore would do.
   */
  readonly dryRun?: boolean;
  /** Once every file is written, read each one back and compare it with the snapshot. */
  readonly verify?: boolean;
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
  /** Files already present with the same size, mtime and checksum; only their mode was fixed. */
  skippedIdentical: number;
  /** Files written where the target had nothing (hard links included). */
  written: number;
  /** Files written over what the target had at their name. */
  overwritten: number;
  /** Files the target already had and keeps: identical ones and those the policy leaves. */
  leftAlone: number;
  /** Files read back and found equal to the snapshot (`verify`). */
  verified: number;
  /** Temporary files an interrupted restore left in the target, removed by this one. */
  leftoversRemoved: number;
  /** Entries removed from the target by `delete` (a removed directory counts once). */
  deleted: number;
  /** Warnings that mean something was not restored; the CLI exits non-zero when above 0. */
  errors: number;
  /** Of `errors`, entries refused because they would have replaced a protected path. */
  refused: number;
  /** Of `errors`, entries whose data in the repository is missing or damaged (exit 13). */
  damaged: number;
  /** Include paths and patterns that selected nothing (not counted in `errors`). */
  unmatched: string[];
}
