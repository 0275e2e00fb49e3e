/**
 * engine/restore/: writes a snapshot's tree into a target directory, treating the repository as
 * hostile (docs/design.md, "Restore treats the repository as hostile"; research/security.md T11).
 * This file is the folder's only import surface. Its parts, each with one job:
 *
 * - restore.ts: restoreSnapshot(), which joins the parts below and runs them in order;
 * - selection.ts: --include (plain paths through includes.ts's trie, or gitignore patterns)
 *   and --exclude, with backup's matcher;
 * - walker.ts: decides what to write (names checked again, the selection, protected paths,
 *   each directory created when first needed or checked without following a symlink, the
 *   temporary files of an interrupted restore removed), stopped by expansion.ts's bound;
 * - hardlinks.ts and scheduler.ts: files in flight (a weighted pool) and the entries that share
 *   one inode, written once and linked;
 * - file-writer.ts: one file fetched, written to a temporary name (sparse.ts keeps holes),
 *   verified and renamed over its final name; overwrite.ts says what happens to what already
 *   stands there (--overwrite), in-place.ts keeps a file already identical; small-file.ts takes
 *   a small file the same way, verified in memory first, and file-batch.ts batches those
 *   through the native addon;
 * - verify.ts: --verify, every written file read back and compared with the snapshot;
 * - deletion.ts: the --delete pass and what stands in an entry's way, never a protected path
 *   (protect.ts: the repository and the client cache, compared by device and inode);
 * - finishing.ts: symlinks after every file, so none can redirect a write, then directory
 *   metadata, deepest first.
 *
 * A dry run goes through the same parts, which then look (lstat, read) and count but change
 * nothing.
 *
 * Residual risk, stated plainly: Node has no openat(), so a local attacker who can write into the
 * target *while* the restore runs could swap a checked directory for a symlink between the check
 * and a later write (the race restic and rsync also document). Links planted before the restore,
 * which is the threat in research/security.md, are always caught.
 *
 * Memory stays bounded: the walk is depth-first and holds one tree per level (plus up to 64
 * subtrees being fetched), at most `concurrency` files are in flight, and together they hold at
 * most 32 MiB of fetched blobs (each file counts min(size, 3 blobs); a single file larger than
 * that budget runs alone).
 *
 * May import repo/, chunker/ and the shared leaves, and engine/fs-names.ts.
 */
export { restoreSnapshot } from "./restore.js";
export {
  DEFAULT_OVERWRITE,
  isOverwritePolicy,
  OVERWRITE_POLICIES,
  type OverwritePolicy,
} from "./overwrite.js";
export type {
  RestoreAction,
  RestoreOptions,
  RestoreProgress,
  RestoreRepository,
  RestoreResult,
  RestoreSink,
} from "./types.js";
export type { ProtectedPath } from "./protect.js";
