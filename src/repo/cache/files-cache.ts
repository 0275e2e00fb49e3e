/**
 * The files cache: files remembered by (inode, size, mtime, ctime), so a backup never reads an
 * unchanged file again. A row answers only for the identity it recorded, and is recorded only
 * once every chunk it names is durable in the store.
 */
import type Database from "better-sqlite3";
import type { BlobId } from "../../store/index.js";
import {
  decodeCachedChecksum,
  encodeCachedChecksum,
  type FileChecksum,
} from "../file-checksum.js";
import type { CacheRun } from "./run.js";

export interface FileIdentity {
  readonly ino: bigint;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export interface CachedContent {
  readonly content: BlobId[];
  /**
   * As the run that read the file computed it: rows from before the `chunk-ids` kind hold a
   * SHA-256, which a backup replaces with the kind it writes (see the walker's known files).
   */
  readonly checksum: FileChecksum;
}

/** A content column (chunk ids back to back) as ids. */
function contentIds(column: Buffer): BlobId[] {
  const content: BlobId[] = [];
  for (let offset = 0; offset < column.length; offset += 32) {
    content.push(new Uint8Array(column.subarray(offset, offset + 32)));
  }
  return content;
}

/** A row as content, or undefined (a miss) for a checksum column this code did not write. */
function cachedContent(row: {
  sha256: Buffer;
  content: Buffer;
}): CachedContent | undefined {
  // The column keeps its old name: it holds a tagged checksum (encodeCachedChecksum).
  const checksum = decodeCachedChecksum(new Uint8Array(row.sha256));
  return checksum === undefined
    ? undefined
    : { content: contentIds(row.content), checksum };
}

/** A file read in a run, as recorded: its path, identity and content. */
export interface FileRecord {
  readonly path: Uint8Array;
  readonly identity: FileIdentity;
  readonly cached: CachedContent;
}

/**
 * Rows written per statement by recordMany(): a first backup of many small files records a row
 * per file, and a statement per row cost about as much as the row itself.
 */
const ROWS_PER_UPSERT = 32;
const UPSERT_COLUMNS =
  "(path, ino, size, mtime_ns, ctime_ns, sha256, content, run)";
const UPSERT_CONFLICT = `ON CONFLICT (path) DO UPDATE SET ino = excluded.ino, size = excluded.size,
         mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256,
         content = excluded.content, run = excluded.run`;

export class FilesCache {
  // Prepared once: a re-run looks up every file, and preparing per call costs more than the query.
  private readonly selectFilePath: Database.Statement;
  private readonly selectRecordedContent: Database.Statement;
  private readonly selectUnchangedFile: Database.Statement;
  private readonly touchUnchangedFile: Database.Statement;
  private readonly upsertFile: Database.Statement;
  private readonly upsertFiles: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly run: CacheRun,
  ) {
    this.selectFilePath = db
      .prepare("SELECT 1 FROM files WHERE path = ?")
      .pluck();
    this.selectRecordedContent = db
      .prepare("SELECT content FROM files WHERE path = ?")
      .pluck();
    this.selectUnchangedFile = db.prepare(
      `SELECT sha256, content FROM files
       WHERE path = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?`,
    );
    this.touchUnchangedFile = db.prepare(
      `UPDATE files SET run = ?
       WHERE path = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?
       RETURNING sha256, content`,
    );
    this.upsertFile = db.prepare(
      `INSERT INTO files ${UPSERT_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?) ${UPSERT_CONFLICT}`,
    );
    this.upsertFiles = db.prepare(
      `INSERT INTO files ${UPSERT_COLUMNS} VALUES ${Array(ROWS_PER_UPSERT).fill("(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")} ${UPSERT_CONFLICT}`,
    );
  }

  /** Whether a file was recorded at this path by an earlier run (whatever its identity now). */
  has(path: Uint8Array): boolean {
    // A run that began empty follows no earlier run: a first backup asks once per file.
    if (this.run.beganEmpty) return false;
    return this.selectFilePath.get(path) !== undefined;
  }

  /**
   * The chunk ids an earlier run recorded at this path, whatever the file's identity now (its
   * chunks are likely stored, so a changed file's new chunks are the ones not among them);
   * marks and counts nothing.
   */
  recordedContent(path: Uint8Array): BlobId[] | undefined {
    if (this.run.beganEmpty) return undefined;
    const content = this.selectRecordedContent.get(path) as Buffer | undefined;
    return content === undefined ? undefined : contentIds(content);
  }

  /** The recorded content of a file whose identity is unchanged; marks and counts nothing. */
  lookup(path: Uint8Array, identity: FileIdentity): CachedContent | undefined {
    const row = this.selectUnchangedFile.get(
      path,
      BigInt.asIntN(64, identity.ino),
      identity.size,
      identity.mtimeNs,
      identity.ctimeNs,
    ) as { sha256: Buffer; content: Buffer } | undefined;
    return row === undefined ? undefined : cachedContent(row);
  }

  /**
   * The recorded content of a file whose identity is unchanged, counted as seen in this run
   * (and, in a sweeping run, marked so that the run's end keeps it). A re-run asks this for
   * every file: one statement each.
   */
  reuse(path: Uint8Array, identity: FileIdentity): CachedContent | undefined {
    // Rows recorded since are of files this run read already, which it does not ask about
    // again (a file named twice is at worst read twice).
    if (this.run.beganEmpty) return undefined;
    let found: CachedContent | undefined;
    if (this.run.sweeping) {
      const row = this.touchUnchangedFile.get(
        this.run.id,
        path,
        BigInt.asIntN(64, identity.ino),
        identity.size,
        identity.mtimeNs,
        identity.ctimeNs,
      ) as { sha256: Buffer; content: Buffer } | undefined;
      found = row === undefined ? undefined : cachedContent(row);
    } else found = this.lookup(path, identity);
    if (found !== undefined) this.run.countSeen(1);
    return found;
  }

  /** Records a file read in this run, once every chunk it names is durable in the store. */
  record(
    path: Uint8Array,
    identity: FileIdentity,
    cached: CachedContent,
  ): void {
    this.upsertFile.run(this.#row({ path, identity, cached }));
    this.run.countSeen(1);
  }

  /** Records many files as record() does each, a few dozen rows per statement. */
  recordMany(records: readonly FileRecord[]): void {
    let index = 0;
    for (; index + ROWS_PER_UPSERT <= records.length; index += ROWS_PER_UPSERT)
      this.upsertFiles.run(
        records
          .slice(index, index + ROWS_PER_UPSERT)
          .flatMap((record) => this.#row(record)),
      );
    for (; index < records.length; index++)
      this.upsertFile.run(this.#row(records[index] as FileRecord));
    this.run.countSeen(records.length);
  }

  #row({ path, identity, cached }: FileRecord): unknown[] {
    return [
      path,
      BigInt.asIntN(64, identity.ino),
      identity.size,
      identity.mtimeNs,
      identity.ctimeNs,
      encodeCachedChecksum(cached.checksum),
      Buffer.concat(cached.content),
      this.run.id,
    ];
  }
}
