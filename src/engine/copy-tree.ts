/**
 * Copying one snapshot's tree into another repository, bottom-up. Both repositories key their
 * blob ids (and their chunkers) with their own secrets, so nothing can be copied as stored
 * bytes: each data blob is fetched from the source, opened (authenticated, its id checked),
 * given its id under the destination's keys and queued in a BlobSaver, which seals and uploads
 * what the destination lacks. The source's chunk boundaries are kept: re-chunking would cost a
 * whole-file pass for nothing, and copies of copies stay byte-identical chunk for chunk.
 *
 * A file's checksum over chunk ids is keyed too: it is checked against the source's ids and
 * computed again over the destination's (a SHA-256 of the plaintext stays as it is). An inline
 * file (tree format 4) stays inline: its bytes are in the tree, and its checksum is checked and
 * made again over the id its bytes have under each repository's key. A checksum a format-5
 * source tree derives is made from the very ids it would be checked against, so it is not
 * checked; the destination's is derived under the destination's keys (DerivedChecksum), and
 * the destination's tree, written as format 5, stores none.
 *
 * Each tree is rewritten with its entries' new ids and saved only after every blob it names is
 * queued (the BlobSaver flushes batches in order before the snapshot is written). The walk is
 * depth-first, holding per level of depth one tree and at most SUBTREES_AHEAD of its subtrees
 * fetched ahead, plus at most FETCH_AHEAD data blobs and the saver's bounded batches: memory
 * does not grow with the size of the snapshot.
 *
 * What an earlier copy learnt is reused (CopyIds): a data blob whose destination id is known
 * and which the destination holds is not fetched at all, and a tree whose copy the destination
 * holds is not even walked. Rows are recorded only at checkpoints, after a flush has made every
 * blob they vouch for durable, so a copy killed at any point leaves no row naming a blob the
 * destination lacks.
 */
import { BlindsyncError } from "../errors.js";
import {
  decodeTree,
  DerivedChecksum,
  encodeTree,
  sameChecksum,
  type ClientCache,
  type CopyIds,
  type FileChecksum,
  type FileEntry,
  type Repository,
  type TreeEntry,
} from "../repo/index.js";
import type { BlobId } from "../store/index.js";
import { toHex } from "../util/bytes.js";
import type { BlobSaver } from "./backup/index.js";
import { checksumIds, type ChecksumRepository } from "./content-check.js";
import { DirectoryReadHints } from "./read-hints.js";

/** Data blobs fetched from the source at once: each at most the chunker's maximum (8 MiB). */
const FETCH_AHEAD = 8;
/** Subtrees of one directory fetched ahead of the walk (each one tree blob). */
const SUBTREES_AHEAD = 16;
/** Ids of one file asked about in one question to the destination. */
const QUESTION_IDS = 1024;
/** Mappings held until a checkpoint flushes the saver and records them. */
const CHECKPOINT_ROWS = 4096;

export interface TreeCopyStats {
  trees: number;
  /** Data blobs fetched from the source and opened, and their plaintext bytes. */
  blobsRead: number;
  bytesRead: number;
}

export interface TreeCopierOptions {
  readonly source: Repository;
  readonly destination: Repository;
  /** The destination location's cache: the blobs it is known to hold. */
  readonly cache: ClientCache;
  readonly saver: BlobSaver;
  readonly ids: CopyIds;
  /** Called after each directory and each data blob read, for progress. */
  readonly onProgress?: (stats: TreeCopyStats) => void;
}

/**
 * A file's checksum in the destination. One over chunk ids is checked under the source's key
 * first, so a copy never vouches anew for a file whose recorded checksum was wrong.
 */
function copiedChecksum(
  source: ChecksumRepository,
  destination: ChecksumRepository,
  entry: FileEntry,
  content: readonly BlobId[],
): FileChecksum {
  if (entry.checksum.kind === "sha256") return entry.checksum;
  if (
    entry.checksum.derived !== true &&
    !sameChecksum(
      source.fileChecksum(entry.size, checksumIds(source, entry)),
      entry.checksum,
    )
  )
    throw new BlindsyncError(
      "integrity",
      "A file's chunk ids do not match the checksum over them its tree records",
    );
  return new DerivedChecksum(destination, entry.size, entry.inline ?? content);
}

export class TreeCopier {
  readonly stats: TreeCopyStats = { trees: 0, blobsRead: 0, bytesRead: 0 };
  readonly #options: TreeCopierOptions;
  /**
   * Source id (hex) to destination id for blobs queued in this run and not yet recorded: the
   * memory of the walk until the next checkpoint writes them to CopyIds.
   */
  readonly #pending = new Map<
    string,
    { source: BlobId; destination: BlobId }
  >();

  constructor(options: TreeCopierOptions) {
    this.#options = options;
  }

  /**
   * Copies the tree `sourceId` and everything below it; answers its destination id. `loading`:
   * the tree's plaintext already on its way (its parent fetched it ahead).
   */
  async copyTree(
    sourceId: BlobId,
    loading?: Promise<Uint8Array>,
  ): Promise<BlobId> {
    const known = this.#resolved(sourceId);
    if (known !== undefined) return known;
    const { source, destination, saver } = this.#options;
    const tree = decodeTree(
      await (loading ?? source.load("tree", sourceId)),
      source,
    );
    const ahead = this.#fetchSubtreesAhead(tree.entries);
    // Blobs neither copied in this run nor recorded by an earlier copy are the ones fetched.
    const hints = new DirectoryReadHints(
      source,
      tree.entries,
      (blob) =>
        this.#resolved(blob) === undefined &&
        this.#options.ids.get(blob) === undefined,
    );
    const entries: TreeEntry[] = [];
    for (const entry of tree.entries) {
      hints.before(entry);
      if (entry.type === "dir") {
        const subtree = await this.copyTree(
          entry.subtree,
          ahead.take(entry.subtree),
        );
        entries.push({ ...entry, subtree });
      } else if (entry.type === "file" && entry.inline !== undefined) {
        const checksum = copiedChecksum(source, destination, entry, []);
        entries.push({ ...entry, checksum });
      } else if (entry.type === "file") {
        const content = await this.#copyContent(entry.content);
        const checksum = copiedChecksum(source, destination, entry, content);
        entries.push({ ...entry, content, checksum });
      } else entries.push(entry);
    }
    // The names are unchanged, so the source's order is still the sorted order.
    const plaintext = encodeTree({ entries });
    const id = destination.blobId(plaintext);
    await saver.add("tree", id, plaintext);
    await this.#remember(sourceId, id);
    this.stats.trees += 1;
    this.#options.onProgress?.(this.stats);
    return id;
  }

  /**
   * Fetches the subtrees of a directory that need a walk, SUBTREES_AHEAD at a time, so that
   * over a connection a directory level costs one round trip rather than one per subtree.
   * `take` hands one over and starts the next.
   */
  #fetchSubtreesAhead(entries: readonly TreeEntry[]): {
    take(id: BlobId): Promise<Uint8Array> | undefined;
  } {
    const wanted = entries.flatMap((entry) =>
      entry.type === "dir" && this.#resolved(entry.subtree) === undefined
        ? [entry.subtree]
        : [],
    );
    const fetching = new Map<string, Promise<Uint8Array>>();
    let next = 0;
    const fill = (): void => {
      while (fetching.size < SUBTREES_AHEAD && next < wanted.length) {
        const id = wanted[next++] as BlobId;
        const loading = this.#options.source.load("tree", id);
        // Awaited when taken; a walk that fails first must not leave it unhandled.
        loading.catch(() => undefined);
        fetching.set(toHex(id), loading);
      }
    };
    fill();
    return {
      take(id) {
        const key = toHex(id);
        const loading = fetching.get(key);
        fetching.delete(key);
        fill();
        return loading;
      },
    };
  }

  /**
   * Makes every queued blob durable, then records the mappings that waited for it. Call before
   * writing a snapshot (its blobs must be durable) and at the end.
   */
  async checkpoint(): Promise<void> {
    const rows = [...this.#pending.values()];
    await this.#options.saver.flush();
    this.#options.ids.add(rows.map((row) => [row.source, row.destination]));
    for (const row of rows) this.#pending.delete(toHex(row.source));
  }

  /**
   * The destination id of a blob copied in this run, or of one an earlier copy recorded and
   * the destination is known to hold (for a tree, everything below it too: see the module).
   */
  #resolved(sourceId: BlobId): BlobId | undefined {
    const pending = this.#pending.get(toHex(sourceId));
    if (pending !== undefined) return pending.destination;
    const recorded = this.#options.ids.get(sourceId);
    if (recorded !== undefined && this.#options.cache.hasBlob(recorded))
      return recorded;
    return undefined;
  }

  async #remember(source: BlobId, destination: BlobId): Promise<void> {
    this.#pending.set(toHex(source), { source, destination });
    if (this.#pending.size >= CHECKPOINT_ROWS) await this.checkpoint();
  }

  /** A file's chunk ids under the destination's keys, its chunks copied where needed. */
  async #copyContent(content: readonly BlobId[]): Promise<BlobId[]> {
    const result: BlobId[] = [];
    for (let start = 0; start < content.length; start += QUESTION_IDS) {
      const part = content.slice(start, start + QUESTION_IDS);
      result.push(...(await this.#copyChunks(part)));
    }
    return result;
  }

  async #copyChunks(sources: readonly BlobId[]): Promise<BlobId[]> {
    const { ids, cache, destination } = this.#options;
    const result: (BlobId | undefined)[] = sources.map((id) =>
      this.#resolved(id),
    );
    // Recorded by an earlier copy, but not known to be held: one question for all of them.
    const asked: { index: number; id: BlobId }[] = [];
    sources.forEach((source, index) => {
      if (result[index] !== undefined) return;
      const recorded = ids.get(source);
      if (recorded !== undefined) asked.push({ index, id: recorded });
    });
    if (asked.length > 0) {
      const missing = new Set(
        (await destination.store.missing(asked.map((one) => one.id))).map(
          toHex,
        ),
      );
      const held = asked.filter((one) => !missing.has(toHex(one.id)));
      for (const one of held) result[one.index] = one.id;
      cache.addBlobs(held.map((one) => one.id));
    }
    // Each id once: a file of zeros names one chunk many times.
    const toFetch = new Map<string, BlobId>();
    sources.forEach((id, index) => {
      if (result[index] === undefined) toFetch.set(toHex(id), id);
    });
    const fetching = [...toFetch.values()];
    const copied = new Map<string, BlobId>();
    for (let start = 0; start < fetching.length; start += FETCH_AHEAD) {
      const window = fetching.slice(start, start + FETCH_AHEAD);
      // Fetched together (pipelined over a connection), then queued in order.
      const plaintexts = await Promise.all(
        window.map((id) => this.#options.source.load("data", id)),
      );
      for (const [offset, id] of window.entries())
        copied.set(
          toHex(id),
          await this.#copyChunk(id, plaintexts[offset] as Uint8Array),
        );
    }
    sources.forEach((id, index) => {
      result[index] ??= copied.get(toHex(id));
    });
    return result as BlobId[];
  }

  async #copyChunk(source: BlobId, plaintext: Uint8Array): Promise<BlobId> {
    this.stats.blobsRead += 1;
    this.stats.bytesRead += plaintext.length;
    this.#options.onProgress?.(this.stats);
    const id = this.#options.destination.blobId(plaintext);
    await this.#options.saver.add("data", id, plaintext);
    await this.#remember(source, id);
    return id;
  }
}
