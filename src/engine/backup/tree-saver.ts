/**
 * The tree saver: turns each directory's entries into a tree blob (queued in the blob saver,
 * bottom-up as the walk finishes directories), keeps the files and directory caches' records
 * until the blobs they name are durable, writes them at checkpoints, and at the end commits the
 * snapshot and advances the pin.
 *
 * Write order is the point of this file: a cache record or a snapshot is written only after a
 * flush of the blob saver has made every blob it reaches durable, so a crash leaves at worst
 * unreferenced blobs, never a cache or snapshot naming a blob the repository lacks.
 */
import type { BigIntStats } from "node:fs";
import { userInfo } from "node:os";
import {
  MODE_MASK,
  advancePin,
  encodeTree,
  sortEntries,
  type CachedContent,
  type ClientCache,
  type CompressionMode,
  type DirRecord,
  type FileIdentity,
  type Repository,
  type Snapshot,
  type TreeEntry,
} from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import { ByteArena } from "../../util/byte-arena.js";
import type { BlobSaver } from "./blob-saver.js";

/**
 * Commit the files cache every so many files and directories, after flushing the blobs they
 * reference. Each checkpoint drains the blob saver's batches in flight and commits both
 * databases: with many small files, 5000 gave a drain every 1-2 batches; 20,000 records held
 * here are a few MiB (their bytes copied into a ByteArena).
 */
const CACHE_CHECKPOINT_FILES = 20_000;

/** What the snapshot record says besides its tree and place in the chain. */
export interface SnapshotFacts {
  readonly head: Snapshot | undefined;
  readonly time: Date;
  readonly host: string;
  readonly paths: string[];
  readonly tags: string[];
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  /** The single source directory's own metadata, when the snapshot's root is one. */
  readonly root: BigIntStats | undefined;
}

/**
 * A files-cache record's content as held until a checkpoint: its ids and checksum copied into
 * `arena` out of the larger buffers they may be views of (a batch's ids and checksums, a small
 * file's bytes behind a derived checksum). A backup that changes one file in each directory
 * holds records made far apart, and each used to hold its batch's buffer. The checksum is
 * computed now if derived: the record needs it either way.
 */
export function heldContent(
  cached: CachedContent,
  arena: ByteArena,
): CachedContent {
  return {
    content: cached.content.map((id) => arena.copy(id)),
    checksum: {
      kind: cached.checksum.kind,
      digest: arena.copy(cached.checksum.digest),
    },
  };
}

export class TreeSaver {
  readonly #repo: Repository;
  readonly #cache: ClientCache;
  readonly #blobSaver: BlobSaver;
  readonly #dryRun: boolean;
  readonly #compression: CompressionMode;
  /**
   * Files-cache records wait here until every chunk they name is durable in the store; a
   * checkpoint writes them only after a flush, so a crash never leaves the cache pointing at
   * blobs the repository does not have.
   */
  #files: { path: Buffer; identity: FileIdentity; cached: CachedContent }[] =
    [];
  /** Directory-cache records, held back like #files until their blobs are durable. */
  #dirs: { path: Buffer; record: DirRecord }[] = [];
  /** Where the waiting records' paths, ids and checksums are copied (ByteArena says why). */
  readonly #held = new ByteArena();

  constructor(options: {
    readonly repo: Repository;
    readonly cache: ClientCache;
    readonly blobSaver: BlobSaver;
    readonly dryRun: boolean;
    readonly compression: CompressionMode;
  }) {
    this.#repo = options.repo;
    this.#cache = options.cache;
    this.#blobSaver = options.blobSaver;
    this.#dryRun = options.dryRun;
    this.#compression = options.compression;
  }

  /** Encodes a directory and queues it; an unchanged directory has the same id and uploads nothing. */
  async save(entries: TreeEntry[]): Promise<BlobId> {
    const plaintext = encodeTree({ entries: sortEntries(entries) });
    const id = this.#repo.blobId(plaintext);
    await this.#blobSaver.add("tree", id, plaintext);
    return id;
  }

  /** A file read in full: recorded in the files cache once its chunks are durable. */
  fileRead(path: Buffer, identity: FileIdentity, cached: CachedContent): void {
    this.#files.push({
      path: this.#held.copy(path),
      identity,
      cached: heldContent(cached, this.#held),
    });
  }

  /**
   * A directory walked with nothing reported in it or below: recorded in the directory cache
   * once its tree is durable. Then a checkpoint, if enough records are waiting.
   */
  async dirDone(path: Buffer, record: DirRecord | undefined): Promise<void> {
    if (record !== undefined && !this.#dryRun)
      this.#dirs.push({ path: this.#held.copy(path), record });
    if (this.#files.length + this.#dirs.length >= CACHE_CHECKPOINT_FILES)
      await this.#checkpoint(false);
  }

  /** Makes every queued blob durable and records what waited for it; the run stays open. */
  async finish(): Promise<void> {
    await this.#checkpoint(true);
  }

  /**
   * Makes every queued blob durable, then records the files whose chunks, and the directories
   * whose trees, are all stored. Not final: commits the cache run's transaction too.
   */
  async #checkpoint(final: boolean): Promise<void> {
    const files = this.#files;
    const dirs = this.#dirs;
    this.#files = [];
    this.#dirs = [];
    await this.#blobSaver.flush();
    if (this.#dryRun) return;
    this.#cache.recordFiles(files);
    for (const { path, record } of dirs) this.#cache.recordDir(path, record);
    if (!final) this.#cache.checkpointRun();
  }

  /**
   * Writes the snapshot of `tree` (call finish() first: every blob it reaches must be durable)
   * and advances the pin to it. It follows the newer of the head and the pin in the chain.
   */
  async commit(tree: BlobId, facts: SnapshotFacts): Promise<Snapshot> {
    const stats = this.#blobSaver.stats;
    const pinSeq = this.#cache.pin?.lastSeq ?? 0;
    const snapshot = await this.#repo.saveSnapshot(
      {
        seq: Math.max(facts.head?.seq ?? 0, pinSeq) + 1,
        previous: facts.head?.id ?? null,
        tree,
        time: facts.time.toISOString(),
        host: facts.host,
        username: safeUsername(),
        paths: facts.paths,
        tags: facts.tags,
        stats: {
          files: facts.files,
          dirs: facts.dirs,
          bytes: facts.bytes,
          blobsAdded: stats.blobsAdded,
          bytesAdded: stats.bytesAdded,
        },
        ...(facts.root === undefined ? {} : { root: rootMeta(facts.root) }),
      },
      this.#compression,
    );
    advancePin(this.#cache, this.#repo, snapshot);
    return snapshot;
  }
}

function rootMeta(stat: BigIntStats) {
  return {
    mode: Number(stat.mode) & MODE_MASK,
    mtimeNs: stat.mtimeNs,
    uid: Number(stat.uid),
    gid: Number(stat.gid),
  };
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return "";
  }
}
