/**
 * Filling packs across puts: a backup's blob saver sends batches of about 4 MiB, and a pack per
 * batch (with an index segment per batch) made a 100 MiB backup some 60 small objects where
 * restic makes 7. Puts that allow it (`put(blobs, { buffer: true })`) go into an open pack per
 * kind that is stored once it reaches the pack size; the segment that indexes stored packs is
 * written at flush() (the backup's checkpoints and its end, before the snapshot) or once
 * SEGMENT_PACKS packs wait for one.
 *
 * Nothing here weakens what a crash can cost: a buffered blob is not durable until flush()
 * resolves, and the engine records blobs as stored (its files cache) only after a flush. A pack
 * stored but not yet indexed when the client dies is found by the next writer from its trailer
 * (index-sync.ts, the resume), as an interrupted backup's packs always were.
 *
 * Memory: one open pack per kind (the pack size of sealed blobs, held by reference) and at most
 * MAX_UPLOADS packs being stored, written from the blobs themselves where the store has putParts
 * (a directory, sftp) and copied once into one buffer where it has not (S3).
 */
import { toHex } from "../../util/bytes.js";
import type { BlobId, BlobToPut } from "../store.js";
import type { BlobLocation } from "./index-cache.js";
import { packName } from "./layout.js";
import type { PackedKind } from "./wire.js";
import {
  packRecord,
  writePacks,
  writeSegments,
  type PackRecord,
  type WriterContext,
} from "./writer.js";

/** Packs stored at once: a second hides one round trip; more would only hold memory. */
const MAX_UPLOADS = 2;
/**
 * Packs that wait for a segment at most (256 MiB at 8 MiB packs): bounds what the next
 * writer re-reads from trailers after a crash, and the memory of the pending entries.
 */
export const SEGMENT_PACKS = 32;

interface OpenPack {
  blobs: BlobToPut[];
  bytes: number;
}

export class PackFiller {
  readonly #open = new Map<PackedKind, OpenPack>();
  /** Blobs put that no stored pack holds yet (open, or in a pack being stored), by hex id. */
  readonly #unstored = new Map<string, BlobToPut>();
  /** Blobs in stored packs that no stored segment indexes yet, by hex id. */
  readonly #unindexed = new Map<string, BlobLocation>();
  #records: PackRecord[] = [];
  #recordEntries = 0;
  readonly #uploads = new Set<Promise<void>>();
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  /** The first failed upload: flush() never claims durability after one. */
  #failure: Error | undefined;

  /** Whether a blob was put and is not in the index yet (missing() must not ask for it again). */
  has(id: BlobId): boolean {
    const hex = toHex(id);
    return this.#unstored.has(hex) || this.#unindexed.has(hex);
  }

  /** The bytes of a blob put and not in the index yet; undefined for any other id. */
  async read(
    context: Pick<WriterContext, "objects">,
    id: BlobId,
  ): Promise<Uint8Array | undefined> {
    const hex = toHex(id);
    const unstored = this.#unstored.get(hex);
    if (unstored !== undefined) return unstored.bytes;
    const location = this.#unindexed.get(hex);
    if (location === undefined) return undefined;
    return context.objects.get(packName(location.pack), location);
  }

  /**
   * Adds blobs of the packed kinds (not in the index, deduplicated by the caller) to the open
   * packs; resolves once the packs they filled are stored (the backpressure that bounds memory).
   */
  async add(
    context: WriterContext,
    blobs: readonly BlobToPut[],
  ): Promise<void> {
    const stored: Promise<void>[] = [];
    for (const blob of blobs) {
      if (blob.kind === "snapshot") continue;
      const hex = toHex(blob.id);
      if (this.#unstored.has(hex) || this.#unindexed.has(hex)) continue;
      const open = this.#openPack(blob.kind);
      // Closed before it would pass the pack size: a blob bigger than that goes alone.
      if (open.bytes > 0 && open.bytes + blob.bytes.length > context.packSize)
        stored.push(this.#close(context, blob.kind));
      this.#unstored.set(hex, blob);
      const current = this.#openPack(blob.kind);
      current.blobs.push(blob);
      current.bytes += blob.bytes.length;
      if (current.bytes >= context.packSize)
        stored.push(this.#close(context, blob.kind));
    }
    await Promise.all(stored);
  }

  /**
   * Makes every blob added so far durable: the open packs stored, then one segment indexing
   * every stored pack that none does yet. Throws the failure of any earlier upload.
   */
  async flush(context: WriterContext): Promise<void> {
    for (const kind of [...this.#open.keys()]) void this.#close(context, kind);
    await Promise.allSettled([...this.#uploads]);
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#records.length > 0) await this.#writeSegment(context);
  }

  #openPack(kind: PackedKind): OpenPack {
    let open = this.#open.get(kind);
    if (open === undefined) {
      open = { blobs: [], bytes: 0 };
      this.#open.set(kind, open);
    }
    return open;
  }

  /** Takes the open pack of `kind` out and stores it; the promise is also kept for flush(). */
  #close(context: WriterContext, kind: PackedKind): Promise<void> {
    const open = this.#open.get(kind);
    this.#open.delete(kind);
    if (open === undefined || open.blobs.length === 0) return Promise.resolve();
    const upload = this.#store(context, kind, open.blobs);
    const tracked = upload.finally(() => this.#uploads.delete(tracked));
    // flush() reports a failure through #failure; the put that closed the pack rejects too.
    tracked.catch(() => undefined);
    this.#uploads.add(tracked);
    return tracked;
  }

  async #store(
    context: WriterContext,
    kind: PackedKind,
    blobs: readonly BlobToPut[],
  ): Promise<void> {
    await this.#slot();
    try {
      for (const pack of await writePacks(context, kind, blobs)) {
        for (const entry of pack.entries) {
          const hex = toHex(entry.id);
          this.#unindexed.set(hex, {
            pack: pack.id,
            kind,
            offset: entry.offset,
            length: entry.length,
          });
          this.#unstored.delete(hex);
        }
        this.#records.push(packRecord(pack));
        this.#recordEntries += pack.entries.length;
      }
    } catch (error) {
      this.#failure ??=
        error instanceof Error ? error : new Error(String(error));
      for (const blob of blobs) this.#unstored.delete(toHex(blob.id));
      throw error;
    } finally {
      this.#release();
    }
    if (
      this.#records.length >= SEGMENT_PACKS ||
      this.#recordEntries >= context.segmentEntries
    )
      await this.#writeSegment(context);
  }

  /** Indexes every stored pack waiting for it; on failure they wait for the next attempt. */
  async #writeSegment(context: WriterContext): Promise<void> {
    const records = this.#records;
    this.#records = [];
    this.#recordEntries = 0;
    try {
      // writeSegments applies the segment to the cache once stored: the blobs are indexed.
      await writeSegments(context, records);
    } catch (error) {
      this.#records.unshift(...records);
      this.#recordEntries += records.reduce(
        (sum, record) => sum + record.entries.length,
        0,
      );
      throw error;
    }
    for (const record of records)
      for (const entry of record.entries) {
        const hex = toHex(entry.id);
        if (this.#unindexed.get(hex)?.pack === record.pack.id)
          this.#unindexed.delete(hex);
      }
  }

  async #slot(): Promise<void> {
    if (this.#active < MAX_UPLOADS) {
      this.#active += 1;
      return;
    }
    // The slot is handed over by #release, so #active stays counted.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#active -= 1;
    else next();
  }
}
