/**
 * The uploader: collects blobs in bounded batches, asks the store once per batch which of
 * them it lacks, and seals and uploads only those. The client cache answers first, so a
 * re-run asks the store nothing about blobs it already knows exist.
 *
 * Memory stays bounded by the batch limits whatever the size of the file or the repository.
 */
import type { ClientCache, Repository } from "../../repo/index.js";
import type { BlobId, BlobKind, BlobToPut } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";

/** A batch is flushed at this many bytes of plaintext or this many blobs, whichever comes first. */
const BATCH_BYTES = 32 * 1024 * 1024;
const BATCH_BLOBS = 256;

export interface UploadStats {
  blobsAdded: number;
  bytesAdded: number;
  bytesStored: number;
}

interface Pending {
  readonly kind: BlobKind;
  readonly id: BlobId;
  readonly plaintext: Uint8Array;
}

export class Uploader {
  readonly stats: UploadStats = {
    blobsAdded: 0,
    bytesAdded: 0,
    bytesStored: 0,
  };
  private pending: Pending[] = [];
  private pendingIds = new Set<string>();
  private pendingBytes = 0;
  private readonly repo: Repository;
  private readonly cache: ClientCache;
  private readonly dryRun: boolean;

  constructor(
    repo: Repository,
    cache: ClientCache,
    options: { dryRun?: boolean } = {},
  ) {
    this.repo = repo;
    this.cache = cache;
    this.dryRun = options.dryRun ?? false;
  }

  /** Queues a blob unless it is known to exist; flushes when the batch is full. */
  async add(kind: BlobKind, id: BlobId, plaintext: Uint8Array): Promise<void> {
    if (this.cache.hasBlob(id)) return;
    const key = toHex(id);
    if (this.pendingIds.has(key)) return;
    this.pendingIds.add(key);
    this.pending.push({ kind, id, plaintext });
    this.pendingBytes += plaintext.length;
    if (this.pendingBytes >= BATCH_BYTES || this.pending.length >= BATCH_BLOBS)
      await this.flush();
  }

  /** Makes everything queued so far durable in the store. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingIds = new Set();
    this.pendingBytes = 0;
    const missing = new Set(
      (await this.repo.store.missing(batch.map((blob) => blob.id))).map(toHex),
    );
    const sealed: BlobToPut[] = [];
    for (const blob of batch) {
      if (!missing.has(toHex(blob.id))) continue;
      const put = this.repo.seal(blob.kind, blob.id, blob.plaintext);
      sealed.push(put);
      this.stats.blobsAdded += 1;
      this.stats.bytesAdded += blob.plaintext.length;
      this.stats.bytesStored += put.bytes.length;
    }
    // Upload order within a batch is shuffled so the server cannot line blobs up with files.
    shuffle(sealed);
    if (!this.dryRun && sealed.length > 0) await this.repo.store.put(sealed);
    if (!this.dryRun) this.cache.addBlobs(batch.map((blob) => blob.id));
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
