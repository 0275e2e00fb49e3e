/**
 * Keeping a PackStore's index cache in step with storage: reading the segments it has not
 * seen (at open, and again when asked about unknown ids, at most once per interval), and,
 * before a client's first write, indexing packs that no segment names from their trailers
 * (the resume of an interrupted backup).
 */
import { BlindsyncError } from "../../errors.js";
import type { ObjectInfo } from "../objects/index.js";
import type { BlobId } from "../store.js";
import type { IndexCache } from "./index-cache.js";
import {
  INDEX_PREFIX,
  PACKS_PREFIX,
  SNAPSHOTS_PREFIX,
  packIdOf,
  segmentIdOf,
  snapshotIdOf,
} from "./layout.js";
import { readTrailer } from "./resume.js";
import { decodeSegment } from "./segment.js";
import {
  packRecord,
  writeSegments,
  type PackRecord,
  type WriterContext,
} from "./writer.js";

/** Segments read at once when catching up on index/. */
const SEGMENT_READS = 4;

export class IndexSync {
  readonly #cache: IndexCache;
  readonly #refreshMs: number;
  #lastRefresh = -Infinity;
  #refreshing: Promise<void> | undefined;
  #writerReady: Promise<void> | undefined;
  #packs: Promise<ObjectInfo[]> | undefined;
  /** Packs no segment names whose trailer did not authenticate: not indexed. */
  readonly rejectedPacks = new Set<string>();
  /** Packs no segment named that the resume indexed from their trailers (for check). */
  indexedFromTrailers = 0;

  constructor(cache: IndexCache, refreshMs: number) {
    this.#cache = cache;
    this.#refreshMs = refreshMs;
  }

  /** Whether the index was read from storage less than an interval ago. */
  fresh(): boolean {
    return Date.now() - this.#lastRefresh < this.#refreshMs;
  }

  /** The index read once at least. */
  async opened(context: WriterContext): Promise<void> {
    if (this.#lastRefresh === -Infinity) await this.refresh(context);
  }

  /**
   * The index read, and, once per store, packs/ listed: indexed packs that storage no longer
   * lists are forgotten, so that a pack deleted or lost on storage makes its blobs missing (for
   * check, and for a backup, which stores them again) instead of silently stored. Returns the
   * listing, which the resume reads too.
   */
  packsListed(context: WriterContext): Promise<ObjectInfo[]> {
    this.#packs ??= (async () => {
      await this.opened(context);
      const bound = this.#cache.sequence;
      const infos: ObjectInfo[] = [];
      const listed = new Set<string>();
      for await (const info of context.objects.list(PACKS_PREFIX)) {
        const id = packIdOf(info.name);
        if (id === undefined) continue;
        infos.push(info);
        listed.add(id);
      }
      this.#cache.forgetUnlistedPacks(listed, bound);
      return infos;
    })().catch((error: unknown) => {
      this.#packs = undefined;
      throw error;
    });
    return this.#packs;
  }

  /** Before the first write: the index read, and packs no segment names indexed (resume). */
  writerReady(context: WriterContext): Promise<void> {
    this.#writerReady ??= (async () => {
      await this.#resume(context, await this.packsListed(context));
    })().catch((error: unknown) => {
      // A failed resume (a lost connection) is tried again by the next put.
      this.#writerReady = undefined;
      throw error;
    });
    return this.#writerReady;
  }

  /** Reads the segments not seen yet; one refresh at a time, joined by concurrent callers. */
  refresh(context: WriterContext): Promise<void> {
    this.#refreshing ??= this.#readIndex(context).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #readIndex(context: WriterContext): Promise<void> {
    const { authenticator, objects } = context;
    const started = Date.now();
    const bound = this.#cache.sequence;
    const listed = new Set<string>();
    const unseen: string[] = [];
    for await (const info of objects.list(INDEX_PREFIX)) {
      const id = segmentIdOf(info.name);
      if (id === undefined) continue;
      listed.add(id);
      if (!this.#cache.seen(id)) unseen.push(id);
    }
    await inParallel(unseen, SEGMENT_READS, async (id) => {
      const name = `${INDEX_PREFIX}${id}`;
      let bytes: Uint8Array;
      try {
        bytes = await objects.get(name);
      } catch (error) {
        if (isNotFound(error)) return; // Superseded and deleted since the listing.
        throw error;
      }
      try {
        this.#cache.apply(
          id,
          decodeSegment(bytes, authenticator, `Index segment ${name}`),
        );
      } catch (error) {
        if (!(error instanceof BlindsyncError && error.kind === "integrity"))
          throw error;
        this.#cache.reject(id);
      }
    });
    this.#cache.forgetUnlisted(listed, bound);
    const snapshots: { id: BlobId; length: number }[] = [];
    for await (const info of objects.list(SNAPSHOTS_PREFIX)) {
      const id = snapshotIdOf(info.name);
      if (id !== undefined) snapshots.push({ id, length: info.size });
    }
    this.#cache.setSnapshots(snapshots);
    this.#lastRefresh = started;
  }

  /**
   * Indexes packs that no segment names, from their authenticated trailers: an interrupted
   * backup wrote them and died before its segment, and the next backup need not upload their
   * blobs again. A trailer that does not authenticate is not believed, and its pack not indexed.
   */
  async #resume(
    context: WriterContext,
    packs: readonly ObjectInfo[],
  ): Promise<void> {
    const records: PackRecord[] = [];
    const unindexed: { info: ObjectInfo; id: string }[] = [];
    for (const info of packs) {
      const id = packIdOf(info.name);
      if (id !== undefined && !this.#cache.knowsPack(id))
        unindexed.push({ info, id });
    }
    // A few trailers at once: a killed backup leaves up to SEGMENT_PACKS of them per client.
    await inParallel(unindexed, SEGMENT_READS, async ({ info, id }) => {
      try {
        const contents = await readTrailer(context, info);
        records.push(packRecord({ id, ...contents }));
      } catch (error) {
        if (isNotFound(error)) return; // Pruned since the listing.
        if (!(error instanceof BlindsyncError && error.kind === "integrity"))
          throw error;
        this.rejectedPacks.add(id);
      }
    });
    // In pack order, not the order the reads finished: the same packs give the same segment.
    records.sort((a, b) => (a.pack.id < b.pack.id ? -1 : 1));
    if (records.length > 0) await writeSegments(context, records);
    this.indexedFromTrailers += records.length;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof BlindsyncError && error.kind === "not-found";
}

/** Runs `work` on every item, at most `limit` at a time. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
}
