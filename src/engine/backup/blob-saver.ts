/**
 * The blob saver (restic's BlobSaver; once "the uploader"): collects blobs in bounded
 * batches, asks the store once per batch which of them it lacks, seals only those (in the
 * worker pool when there is one) and uploads them. The client cache answers first, so a re-run
 * asks the store nothing about blobs it already knows exist.
 *
 * Batches are pipelined: while one batch is being asked about, sealed or uploaded, the
 * archiver keeps reading and chunking into the next. At most MAX_BATCHES_IN_FLIGHT batches
 * and IN_FLIGHT_BYTES of plaintext are under way, so memory stays bounded whatever the size of
 * the file or the repository; the bytes of finished batches count toward a collection of the
 * heap (GARBAGE_BUDGET_BYTES), so dead buffers do not pile up either.
 *
 * While the store keeps answering that it lacks every blob it is asked about (new data, the
 * usual case for a blob the cache does not know), a batch is sealed while its question is
 * under way instead of after the answer: `serve` answers in order, so the question waits
 * behind the previous batch's commit, and sealing no longer waits with it. The first answer
 * that names a blob the store already has (another client's data, a lost cache) stops that
 * until an answer lacks every blob again, so at most the batches already under way are
 * sealed in vain; what is uploaded is decided by the answer alone either way.
 */
import type {
  ClientCache,
  CompressionMode,
  Repository,
} from "../../repo/index.js";
import type { BlobId, BlobKind, BlobToPut } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import { GarbageBudget } from "../../util/garbage-budget.js";
import type { SealPool } from "./seal-pool.js";

/**
 * A batch is sent at this many bytes of plaintext or this many blobs, whichever comes first.
 * Each batch is one question to the store and one commit (a durable one, with its fsyncs, in
 * the SQLite store), so a batch of small files' blobs is as large as the byte bound allows:
 * 4096 blobs of a few hundred bytes are about 2-3 MiB (docs/performance.md, many small files).
 */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_BLOBS = 4096;
/**
 * Enough to keep the workers and the connection busy; each batch holds at most BATCH_BYTES of
 * plaintext and as much sealed. Four rather than two: over ssh a batch spends longer in
 * transit and in `serve`'s commit than the client spends making the next (docs/performance.md).
 */
export const MAX_BATCHES_IN_FLIGHT = 4;
/**
 * Plaintext bytes of the batches under way at most (each is also held sealed until its upload
 * is done); no new batch starts while they reach it. Batches of files of a few hundred bytes
 * (4096 blobs, about 2 MiB) still go four at a time; batches of a large file's chunks (4 MiB
 * and up to a chunk more each) two, which kept the worker and the connection as busy and the
 * peak RSS 15-20 MiB lower (docs/performance.md, "Memory of the initial backup").
 */
export const IN_FLIGHT_BYTES = 8 * 1024 * 1024;
/**
 * The walk reaches the blob saver through promise continuations that never wait while batches
 * have room (small files are read with synchronous calls, a local store answers at once), so
 * without a yield the event loop would run no timer and take no worker reply until four
 * batches were under way: with many small files on a busy machine that starved the lock's
 * lease refresh for 60 s (exit 11), and sealed batches waited in the message queue. Every this
 * many milliseconds an add() yields to the event loop once.
 */
const YIELD_EVERY_MS = 20;

/**
 * Blobs below this size are sealed in one message per worker and batch (SealPool.sealMany);
 * larger ones one message each, which costs nothing next to sealing them and spares copying
 * them into one buffer.
 */
const SEAL_TOGETHER_BELOW = 64 * 1024;

/**
 * Once batches have dropped this many bytes (plaintext and sealed, counted when their upload
 * is done), the main thread's heap is collected: V8 would otherwise let about 64 MiB of dead
 * buffers pile up first, and malloc keeps their pages (util/garbage-budget.ts).
 */
export const GARBAGE_BUDGET_BYTES = 32 * 1024 * 1024;

export interface UploadStats {
  blobsAdded: number;
  bytesAdded: number;
  bytesStored: number;
  /** Sealed ahead of the store's answer, which then said it had them: work thrown away. */
  blobsSealedInVain: number;
}

interface Pending {
  readonly kind: BlobKind;
  readonly id: BlobId;
  readonly key: string;
  readonly plaintext: Uint8Array;
  /** Taken when queued: sealing may transfer the plaintext's buffer to a worker. */
  readonly length: number;
}

export class BlobSaver {
  readonly stats: UploadStats = {
    blobsAdded: 0,
    bytesAdded: 0,
    bytesStored: 0,
    blobsSealedInVain: 0,
  };
  private pending: Pending[] = [];
  /** Whether the next batch is sealed before the store says what it lacks (see above). */
  private sealAhead = true;
  private pendingBytes = 0;
  /** Ids queued or under way, so one blob is never sent twice by overlapping batches. */
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Plaintext bytes of the batches in inFlight. */
  #inFlightBytes = 0;
  /**
   * Set while a full batch waits for room to start: every other adder waits with it instead
   * of queueing more, so the walker's concurrent files never add batches past the bounds.
   */
  #starting: Promise<void> | undefined;
  private failure: Error | undefined;
  #lastYield = performance.now();
  readonly #garbage: GarbageBudget;
  private readonly repo: Repository;
  private readonly cache: ClientCache;
  private readonly dryRun: boolean;
  private readonly pool: SealPool | undefined;
  private readonly compression: CompressionMode;

  constructor(
    repo: Repository,
    cache: ClientCache,
    options: {
      dryRun?: boolean;
      pool?: SealPool | undefined;
      /** For every blob this saver seals, data and trees alike (default "auto"). */
      compression?: CompressionMode;
      /** Where dropped bytes are counted (default: GARBAGE_BUDGET_BYTES, minor collections). */
      garbage?: GarbageBudget;
    } = {},
  ) {
    this.#garbage =
      options.garbage ?? new GarbageBudget(GARBAGE_BUDGET_BYTES, "minor");
    this.repo = repo;
    this.cache = cache;
    this.dryRun = options.dryRun ?? false;
    this.pool = options.pool;
    this.compression = options.compression ?? "auto";
  }

  /** Whether the blob is known to exist or already queued: add() would skip it. */
  has(id: BlobId): boolean {
    return this.#known(toHex(id), id);
  }

  #known(key: string, id: BlobId): boolean {
    return this.queued.has(key) || this.cache.hasBlob(id);
  }

  /** Queues a blob unless it is known to exist; sends a batch when one is full. */
  async add(kind: BlobKind, id: BlobId, plaintext: Uint8Array): Promise<void> {
    await this.#add(kind, id, plaintext, false);
  }

  /**
   * Like add(), for bytes the caller overwrites once this returns (a view of a read buffer):
   * copied only when the blob is queued, so a known chunk costs no allocation.
   */
  async addBorrowed(
    kind: BlobKind,
    id: BlobId,
    borrowed: Uint8Array,
  ): Promise<void> {
    await this.#add(kind, id, borrowed, true);
  }

  async #add(
    kind: BlobKind,
    id: BlobId,
    bytes: Uint8Array,
    borrowed: boolean,
  ): Promise<void> {
    const now = performance.now();
    if (now - this.#lastYield >= YIELD_EVERY_MS) {
      this.#lastYield = now;
      // The caller's borrowed bytes stay valid: it waits for this promise before reusing them.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.throwIfFailed();
    while (this.#starting !== undefined) await this.#starting;
    this.throwIfFailed();
    const key = toHex(id);
    if (this.#known(key, id)) return;
    this.queued.add(key);
    // Uint8Array's slice copies (a Buffer's would be a view), into a buffer of its own, which
    // the seal pool can then transfer to a worker.
    const plaintext = borrowed ? Uint8Array.prototype.slice.call(bytes) : bytes;
    this.pending.push({ kind, id, key, plaintext, length: plaintext.length });
    this.pendingBytes += plaintext.length;
    if (this.pendingBytes >= BATCH_BYTES || this.pending.length >= BATCH_BLOBS)
      await this.send();
  }

  /** Makes everything queued so far durable in the store. */
  async flush(): Promise<void> {
    while (this.#starting !== undefined) await this.#starting;
    if (this.pending.length > 0) await this.send();
    await Promise.all(this.inFlight);
    this.throwIfFailed();
    // Batches were put with { buffer: true }: a pack store fills packs across them.
    if (!this.dryRun) await this.repo.store.flush?.();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Starts the pending batch and waits while the batches under way are at a bound, every other
   * adder waiting with it (#starting) rather than filling batches of its own: a batch counts as
   * under way only once it has started, and no adder adds to the next batch until there is
   * room for it. (Counted before it waited, each of several adders that filled a batch
   * meanwhile started its own, past both bounds.)
   */
  private async send(): Promise<void> {
    const starting = this.#startAndWaitForRoom();
    this.#starting = starting;
    try {
      await starting;
    } finally {
      if (this.#starting === starting) this.#starting = undefined;
    }
    this.throwIfFailed();
  }

  /** Never rejects: a failed upload is kept in `failure` for the next add() or flush(). */
  async #startAndWaitForRoom(): Promise<void> {
    // Room is normally there already: every adder waited for it before filling this batch.
    await this.#room();
    const batch = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const work: Promise<void> = this.upload(batch)
      .catch((error: unknown) => {
        this.failure ??=
          error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => {
        this.inFlight.delete(work);
        this.#inFlightBytes -= bytes;
        for (const blob of batch) this.queued.delete(blob.key);
      });
    this.inFlight.add(work);
    this.#inFlightBytes += bytes;
    await this.#room();
  }

  async #room(): Promise<void> {
    while (
      this.inFlight.size >= MAX_BATCHES_IN_FLIGHT ||
      this.#inFlightBytes >= IN_FLIGHT_BYTES
    )
      await Promise.race(this.inFlight);
  }

  private async upload(batch: readonly Pending[]): Promise<void> {
    const question = this.repo.store.missing(batch.map((blob) => blob.id));
    // Only with workers: on this thread, sealing first would only delay the question.
    const sealingAhead =
      this.sealAhead && this.pool !== undefined
        ? this.#sealAll(batch)
        : undefined;
    // Handled here too: if the question fails, nothing awaits these seals.
    sealingAhead?.catch(() => undefined);
    const missing = new Set((await question).map(toHex));
    this.sealAhead = missing.size === batch.length;
    const toSeal = batch.filter((blob) => missing.has(blob.key));
    for (const blob of toSeal) {
      this.stats.blobsAdded += 1;
      this.stats.bytesAdded += blob.length;
    }
    let sealed: BlobToPut[];
    if (sealingAhead === undefined) sealed = await this.#sealAll(toSeal);
    else {
      const wanted = batch.map((blob) => missing.has(blob.key));
      sealed = (await sealingAhead).filter((_, index) => wanted[index]);
      this.stats.blobsSealedInVain += batch.length - sealed.length;
    }
    for (const blob of sealed) this.stats.bytesStored += blob.bytes.length;
    // Upload order within a batch is shuffled so the server cannot line blobs up with files.
    shuffle(sealed);
    if (this.dryRun) return;
    // Durable at flush(), which comes before anything records these blobs as stored.
    if (sealed.length > 0) await this.repo.store.put(sealed, { buffer: true });
    this.cache.addBlobs(batch.map((blob) => blob.id));
    let dropped = 0;
    for (const blob of batch) dropped += blob.length;
    for (const blob of sealed) dropped += blob.bytes.length;
    this.#garbage.dropped(dropped);
  }

  async #sealAll(blobs: readonly Pending[]): Promise<BlobToPut[]> {
    const pool = this.pool;
    if (pool === undefined)
      return blobs.map((blob) => ({
        id: blob.id,
        kind: blob.kind,
        bytes: this.repo.seal(
          blob.kind,
          blob.id,
          blob.plaintext,
          this.compression,
        ).bytes,
      }));
    // Small blobs go to the workers together, one message per worker; a large one alone, its
    // plaintext transferred rather than copied into a shared buffer.
    const small = blobs.filter((blob) => blob.length < SEAL_TOGETHER_BELOW);
    const sealedSmall = pool.sealMany(small, this.compression);
    const sealedLarge = blobs.map((blob) =>
      blob.length < SEAL_TOGETHER_BELOW
        ? undefined
        : pool.seal(blob.kind, blob.id, blob.plaintext, this.compression),
    );
    // Every promise is awaited below; an early rejection must not go unhandled meanwhile.
    for (const pending of sealedLarge) pending?.catch(() => undefined);
    const smallBytes = await sealedSmall;
    const sealed: BlobToPut[] = [];
    let nextSmall = 0;
    for (const [index, blob] of blobs.entries()) {
      const large = sealedLarge[index];
      const bytes =
        large === undefined
          ? (smallBytes[nextSmall++] as Uint8Array)
          : await large;
      sealed.push({ id: blob.id, kind: blob.kind, bytes });
    }
    return sealed;
  }
}

function shuffle(items: BlobToPut[]): void {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    const swap = items[index] as BlobToPut;
    items[index] = items[other] as BlobToPut;
    items[other] = swap;
  }
}
