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
 * MAX_SENDING packs being sent. A pack's blobs are let go once its bytes are sent (ObjectStore
 * putParts' onSent), not once it is durable: over sftp its fsync and rename take as long again,
 * and holding 8 MiB through them held two or three packs more (docs/performance.md, "sftp,
 * round three"). A put waits only until the packs it filled are sent; they become durable (and
 * indexed) by flush() as before, which is the only point a backup relies on.
 */
import { toHex } from "../../util/bytes.js";
import type { BlobId, BlobToPut } from "../store.js";
import type { BlobLocation } from "./index-cache.js";
import { packName } from "./layout.js";
import type { PackedKind } from "./wire.js";
import type { PackEntry } from "./trailer.js";
import {
  packRecord,
  writePacks,
  writeSegments,
  type PackRecord,
  type WriterContext,
  type WrittenPack,
} from "./writer.js";

/** Packs being sent at once: a second hides one round trip; more would only hold memory. */
const MAX_SENDING = 2;
/**
 * Packs closed and not yet durable at most (being sent, synced or renamed): sent packs cost no
 * memory here, but bound the temporary files a crash leaves and the syncs queued on storage.
 */
const MAX_UNSTORED = 4;
/**
 * Packs that wait for a segment at most (256 MiB at 8 MiB packs): bounds what the next
 * writer re-reads from trailers after a crash, and the memory of the pending entries.
 */
export const SEGMENT_PACKS = 32;

interface OpenPack {
  blobs: BlobToPut[];
  bytes: number;
}

/** A blob in a pack that is sent but not yet durable: readable once `stored` resolves. */
interface Settling {
  readonly stored: Promise<void>;
  readonly location: BlobLocation;
}

export class PackFiller {
  readonly #open = new Map<PackedKind, OpenPack>();
  /** Blobs put whose bytes are still held (open, or in a pack being sent), by hex id. */
  readonly #unstored = new Map<string, BlobToPut>();
  /** Blobs in packs sent but not yet durable, by hex id. */
  readonly #settling = new Map<string, Settling>();
  /** Blobs in stored packs that no stored segment indexes yet, by hex id. */
  readonly #unindexed = new Map<string, BlobLocation>();
  #records: PackRecord[] = [];
  #recordEntries = 0;
  readonly #uploads = new Set<Promise<void>>();
  readonly #sending = new Slots(MAX_SENDING);
  readonly #unstoredPacks = new Slots(MAX_UNSTORED);
  /** The first failed upload: flush() never claims durability after one. */
  #failure: Error | undefined;

  /** Whether a blob was put and is not in the index yet (missing() must not ask for it again). */
  has(id: BlobId): boolean {
    const hex = toHex(id);
    return (
      this.#unstored.has(hex) ||
      this.#settling.has(hex) ||
      this.#unindexed.has(hex)
    );
  }

  /** The bytes of a blob put and not in the index yet; undefined for any other id. */
  async read(
    context: Pick<WriterContext, "objects">,
    id: BlobId,
  ): Promise<Uint8Array | undefined> {
    const hex = toHex(id);
    const unstored = this.#unstored.get(hex);
    if (unstored !== undefined) return unstored.bytes;
    const settling = this.#settling.get(hex);
    if (settling !== undefined) {
      // Its pack's bytes are gone from memory and not yet under the pack's name.
      await settling.stored;
      return context.objects.get(
        packName(settling.location.pack),
        settling.location,
      );
    }
    const location = this.#unindexed.get(hex);
    if (location === undefined) return undefined;
    return context.objects.get(packName(location.pack), location);
  }

  /**
   * Adds blobs of the packed kinds (not in the index, deduplicated by the caller) to the open
   * packs; resolves once the packs they filled are sent (the backpressure that bounds memory),
   * not durable: flush() is. Throws the failure of an earlier upload, so a backup stops at once.
   */
  async add(
    context: WriterContext,
    blobs: readonly BlobToPut[],
  ): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const sent: Promise<void>[] = [];
    for (const blob of blobs) {
      if (blob.kind === "snapshot") continue;
      if (this.has(blob.id)) continue;
      const hex = toHex(blob.id);
      const open = this.#openPack(blob.kind);
      // Closed before it would pass the pack size: a blob bigger than that goes alone.
      if (open.bytes > 0 && open.bytes + blob.bytes.length > context.packSize)
        sent.push(this.#close(context, blob.kind));
      this.#unstored.set(hex, blob);
      const current = this.#openPack(blob.kind);
      current.blobs.push(blob);
      current.bytes += blob.bytes.length;
      if (current.bytes >= context.packSize)
        sent.push(this.#close(context, blob.kind));
    }
    await Promise.all(sent);
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

  /**
   * Takes the open pack of `kind` out and stores it; returns once its bytes are sent (or its
   * upload failed). The whole upload is kept for flush(), which reports a failure through
   * #failure.
   */
  #close(context: WriterContext, kind: PackedKind): Promise<void> {
    const open = this.#open.get(kind);
    this.#open.delete(kind);
    if (open === undefined || open.blobs.length === 0) return Promise.resolve();
    let sent!: () => void;
    const sending = new Promise<void>((resolve) => (sent = resolve));
    const upload = this.#store(context, kind, open.blobs, sent);
    const tracked = upload.finally(() => {
      this.#uploads.delete(tracked);
      sent(); // a failed upload releases the put that waits for it too
    });
    tracked.catch(() => undefined);
    this.#uploads.add(tracked);
    return sending;
  }

  async #store(
    context: WriterContext,
    kind: PackedKind,
    blobs: readonly BlobToPut[],
    sent: () => void,
  ): Promise<void> {
    await this.#unstoredPacks.take();
    await this.#sending.take();
    let sending = true;
    const doneSending = (): void => {
      if (!sending) return;
      sending = false;
      this.#sending.give();
      sent();
    };
    let stored!: () => void;
    let failed!: (error: unknown) => void;
    const durable = new Promise<void>((resolve, reject) => {
      stored = resolve;
      failed = reject;
    });
    durable.catch(() => undefined); // read() awaits it; a failure is flush()'s to report
    const locate = (pack: WrittenPack, entry: PackEntry): BlobLocation => ({
      pack: pack.id,
      kind,
      offset: entry.offset,
      length: entry.length,
    });
    let remaining = blobs.length;
    try {
      const packs = await writePacks(context, kind, blobs, (pack) => {
        // Let go of the bytes: a read of these blobs waits for the pack to be durable.
        for (const entry of pack.entries) {
          const hex = toHex(entry.id);
          this.#unstored.delete(hex);
          this.#settling.set(hex, {
            stored: durable,
            location: locate(pack, entry),
          });
        }
        remaining -= pack.entries.length;
        if (remaining === 0) doneSending();
      });
      for (const pack of packs) {
        for (const entry of pack.entries) {
          const hex = toHex(entry.id);
          this.#unindexed.set(hex, locate(pack, entry));
          this.#unstored.delete(hex);
          this.#settling.delete(hex);
        }
        this.#records.push(packRecord(pack));
        this.#recordEntries += pack.entries.length;
      }
      stored();
    } catch (error) {
      this.#failure ??=
        error instanceof Error ? error : new Error(String(error));
      for (const blob of blobs) {
        const hex = toHex(blob.id);
        this.#unstored.delete(hex);
        this.#settling.delete(hex);
      }
      failed(error);
      throw error;
    } finally {
      doneSending();
      this.#unstoredPacks.give();
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
}

/** A counting semaphore: at most `limit` holders, the others wait in order. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#free = limit;
  }

  async take(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return;
    }
    // The slot is handed over by give(), so #free stays as it is.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#free += 1;
    else next();
  }
}
