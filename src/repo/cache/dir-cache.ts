/**
 * The directory cache: directories remembered by digests of their listings and subtrees, so a
 * backup does not even look through an unchanged directory. A row is recorded only once its
 * tree, and every blob below it, is durable in the store.
 */
import type Database from "better-sqlite3";
import type { BlobId } from "../../store/index.js";
import type { CacheRun } from "./run.js";

/**
 * A directory as a backup run saw it and the tree blob it made of it (the idea of git's
 * cache-tree). The tree depends only on what the two digests cover, so a later run whose
 * digests match reuses the tree without looking at a single file of the directory.
 */
export interface DirRecord {
  /** SHA-256 of the name and whole lstat (inode, size, times, mode, owner, links) of each kept child. */
  readonly listing: Uint8Array;
  /** SHA-256 of its subdirectories' names and tree ids, in name order. */
  readonly subtrees: Uint8Array;
  readonly tree: BlobId;
  /** Its own regular files (not those of subdirectories): how many, and their bytes. */
  readonly files: number;
  readonly bytes: number;
}

export class DirCache {
  private readonly selectDir: Database.Statement;
  private readonly upsertDir: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly run: CacheRun,
  ) {
    this.selectDir = db.prepare(
      "SELECT listing, subtrees, tree, files, bytes FROM dirs WHERE path = ?",
    );
    this.upsertDir = db.prepare(
      `INSERT INTO dirs (path, listing, subtrees, tree, files, bytes, run)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET listing = excluded.listing,
         subtrees = excluded.subtrees, tree = excluded.tree, files = excluded.files,
         bytes = excluded.bytes, run = excluded.run`,
    );
  }

  /**
   * What an earlier run recorded for the directory at `path`, for the archiver to compare;
   * undefined when there is none, and always in a sweeping run, which must see every file
   * (and every directory) to know which rows to keep.
   */
  lookup(path: Uint8Array): DirRecord | undefined {
    if (this.run.sweeping) return undefined;
    const row = this.selectDir.get(path) as
      | {
          listing: Buffer;
          subtrees: Buffer;
          tree: Buffer;
          files: number;
          bytes: number;
        }
      | undefined;
    if (row === undefined) return undefined;
    return {
      listing: new Uint8Array(row.listing),
      subtrees: new Uint8Array(row.subtrees),
      tree: new Uint8Array(row.tree),
      files: row.files,
      bytes: row.bytes,
    };
  }

  /** Counts a reused directory's files as seen, as the files cache would have one by one. */
  reused(record: DirRecord): void {
    this.run.countSeen(record.files);
  }

  /** Records a directory whose tree, and every blob below it, is durable in the store. */
  record(path: Uint8Array, record: DirRecord): void {
    this.upsertDir.run(
      path,
      record.listing,
      record.subtrees,
      record.tree,
      record.files,
      record.bytes,
      this.run.id,
    );
  }
}
