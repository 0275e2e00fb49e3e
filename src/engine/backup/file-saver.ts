/**
 * The file saver: the read routes of a new or changed file. A small file is read with
 * synchronous calls, a large one asynchronously with one read ahead, and a large changed file
 * the files cache knows is digested in a worker, which carries back only the chunks the earlier
 * run did not record. Every route goes through the one chunk stream (here or in the worker),
 * so each chunk is read and hashed to its id once, and hands chunks to the blob saver. A file
 * small enough to go inline (inline-files.ts) is no chunk at all: its bytes go to its tree.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { describeError } from "../../errors.js";
import type {
  CachedContent,
  ClientCache,
  CompressionMode,
  FileIdentity,
  Repository,
} from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import type { BlobSaver } from "./blob-saver.js";
import { ChunkStream, type Chunk } from "./chunk-stream.js";
import { OPEN_FLAGS, READ_SIZE } from "./file-reading.js";
import { unchangedSince } from "./file-identity.js";
import { inlineRead, isInlineSize, type FileRead } from "./inline-files.js";
import { FileReadError, type SealPool } from "./seal-pool.js";
import type { FileDigest } from "./seal-worker.js";
import type { DigestBatch, SmallFileRead } from "./small-file-batch.js";

/**
 * Wraps an error of the blob saver (the store or sealing) that surfaced while a file was being
 * read, so that it ends the backup instead of being reported as that file's read error.
 */
export class StoreFailure extends Error {
  constructor(cause: unknown) {
    super(describeError(cause), { cause });
  }
}

/**
 * A changed file at least this large that an earlier run recorded is digested in a worker
 * (SealPool.digest): most of its chunks are likely stored already, so the worker's ids are
 * all the main thread needs, and the hashing runs beside the walk. New files stay on the
 * main thread, where every chunk's bytes are needed anyway; so does a changed file when every
 * worker is digesting one already, rather than queue behind it while the main thread idles
 * at the end of the walk.
 */
const WORKER_DIGEST_MIN_BYTES = 8 * 1024 * 1024;
/**
 * At most this many bytes of a digested file's new chunks come back from the worker (per
 * file being digested). A file with more new data than this is mostly new after all: the
 * worker stops, and the file is read here, where its chunks' bytes are needed anyway.
 */
const WORKER_CARRY_MAX_BYTES = 16 * 1024 * 1024;

export class FileSaver {
  readonly #repo: Repository;
  readonly #cache: ClientCache;
  readonly #pool: SealPool | undefined;
  readonly #blobSaver: BlobSaver;
  /** The blob saver's compression: blobs a worker seals ahead must match it. */
  readonly #compression: CompressionMode;
  /** Adds bytes read to the backup's progress. */
  readonly #countBytes: (bytes: number) => void;
  /** Read buffers of finished files, reused (two per file in flight: one read ahead). */
  readonly #spareBuffers: Buffer[] = [];

  constructor(options: {
    readonly repo: Repository;
    readonly cache: ClientCache;
    readonly pool: SealPool | undefined;
    readonly blobSaver: BlobSaver;
    /** As the blob saver's (default "auto"). */
    readonly compression?: CompressionMode;
    readonly countBytes: (bytes: number) => void;
  }) {
    this.#repo = options.repo;
    this.#cache = options.cache;
    this.#pool = options.pool;
    this.#blobSaver = options.blobSaver;
    this.#compression = options.compression ?? "auto";
    this.#countBytes = options.countBytes;
  }

  /**
   * How SmallFileBatches has its batches digested, when there is a worker: the worker computes
   * each one-chunk file's id and checksum and seals its blob ahead (SealPool.digestSmallFiles),
   * so that the main thread, the busier of the two on a first backup of many small files, only
   * queues them (docs/performance.md, "Small files, per-file cost, round four"); a file that
   * goes inline gets its checksum and no blob. A failed worker ends the backup (StoreFailure),
   * as it does when sealing.
   */
  get digestBatch(): DigestBatch | undefined {
    const pool = this.#pool;
    if (pool === undefined) return undefined;
    const { minSize } = this.#repo.config.chunker;
    return async (paths, into, offsets, lengths, inline) => {
      // Only what saveRead() would take as one chunk: not empty, below the chunker's minimum;
      // inline only what saveRead() puts inline.
      let recorded: Uint8Array | undefined;
      for (const [index, length] of lengths.entries()) {
        if (length === 0 || length >= minSize) lengths[index] = -1;
        if (!isInlineSize(length)) inline[index] = 0;
        if (lengths[index] === -1 || inline[index] === 1) continue;
        // The one blob an earlier run recorded here: the worker seals no copy of it (the
        // job's `recorded`). A first backup's cache began empty and answers without a query.
        const earlier = this.#cache.recordedContent(paths[index] as Buffer);
        if (earlier?.length !== 1) continue;
        recorded ??= new Uint8Array(lengths.length * 32);
        recorded.set(earlier[0] as BlobId, index * 32);
      }
      try {
        return await pool.digestSmallFiles(
          into,
          offsets,
          lengths,
          this.#compression,
          inline,
          recorded,
        );
      } catch (error) {
        throw new StoreFailure(error);
      }
    };
  }

  #takeBuffer(): Buffer {
    return this.#spareBuffers.pop() ?? Buffer.allocUnsafe(READ_SIZE);
  }

  /**
   * Chunks, hashes and queues one file's bytes as they are read; `finish` returns its content
   * list and whole-file checksum (over the chunk ids: no second hash of the bytes). Chunks are views, copied only when the blob saver queues them,
   * so the caller may reuse a buffer as soon as the promise of `push` settles.
   */
  #contentBuilder(): {
    push: (data: Buffer) => Promise<void>;
    finish: () => Promise<CachedContent & { size: number }>;
    /** The whole file at once, instead of push() and finish(): nothing copied to cut it. */
    whole: (data: Buffer) => Promise<CachedContent & { size: number }>;
  } {
    const repo = this.#repo;
    const stream = new ChunkStream(repo.gear, repo.config.chunker, (view) =>
      repo.blobId(view),
    );
    const content: BlobId[] = [];
    // The views stay valid while this runs: the next push waits for it.
    const queue = async (chunks: Chunk[]): Promise<void> => {
      for (const { id, view } of chunks) {
        content.push(id);
        try {
          await this.#blobSaver.addBorrowed("data", id, view);
        } catch (error) {
          throw new StoreFailure(error);
        }
      }
    };
    return {
      push: (data) => {
        this.#countBytes(data.length);
        return queue(stream.push(data));
      },
      finish: async () => {
        const { chunks } = stream.finish();
        await queue(chunks);
        const size = stream.size;
        return { content, checksum: repo.fileChecksum(size, content), size };
      },
      whole: async (data) => {
        this.#countBytes(data.length);
        await queue(stream.whole(data));
        const size = stream.size;
        return { content, checksum: repo.fileChecksum(size, content), size };
      },
    };
  }

  /**
   * Reads, chunks and queues one file. A file that stat() says fits in one read buffer is read
   * with synchronous calls: most files are small, and for them a thread-pool round trip per
   * open, read and close cost more than the calls (docs/performance.md). Larger files are read
   * asynchronously, the next piece while the current one is chunked and hashed. `inline`:
   * whether a small file's bytes go inline if they still fit once read (its directory's
   * budget allowed it; InlineBudget).
   */
  async read(
    path: Buffer,
    identity: FileIdentity,
    inline = isInlineSize(identity.size),
  ): Promise<FileRead> {
    const statSize = identity.size;
    if (statSize < READ_SIZE) return this.#readSmallFile(path, inline);
    const recorded =
      this.#pool !== undefined &&
      statSize >= WORKER_DIGEST_MIN_BYTES &&
      this.#pool.canDigest
        ? this.#cache.recordedContent(path)
        : undefined;
    if (this.#pool !== undefined && recorded !== undefined) {
      const digested = await this.#readChangedInWorker(
        this.#pool,
        path,
        identity,
        recorded,
      );
      if (digested !== undefined) return digested;
    }
    const handle = await open(path, OPEN_FLAGS);
    let current = this.#takeBuffer();
    let ahead = this.#takeBuffer();
    try {
      const builder = this.#contentBuilder();
      let reading = handle.read(current, 0, READ_SIZE, null);
      for (;;) {
        const { bytesRead } = await reading;
        if (bytesRead === 0) break;
        const data = current.subarray(0, bytesRead);
        [current, ahead] = [ahead, current];
        reading = handle.read(current, 0, READ_SIZE, null);
        await builder.push(data);
      }
      return await builder.finish();
    } finally {
      await handle.close();
      this.#spareBuffers.push(current, ahead);
    }
  }

  /**
   * A changed file, digested in a worker, which reads it once: the chunk ids and the bytes of the chunks `recorded` (the earlier run's) does not name. Those
   * are queued here as they are; nothing is read or hashed again. Undefined, and the caller
   * reads the file itself, when the worker found too much new data to carry, when the file's
   * identity (inode, size, mtime, ctime) is no longer the one the walk saw, or when a chunk the
   * repository lacks was not carried (a recorded chunk the cache no longer knows).
   */
  async #readChangedInWorker(
    pool: SealPool,
    path: Buffer,
    identity: FileIdentity,
    recorded: readonly BlobId[],
  ): Promise<(CachedContent & { size: number }) | undefined> {
    let digest: FileDigest | undefined;
    try {
      digest = await pool.digest(path, {
        recorded: Buffer.concat(recorded),
        maxBytes: WORKER_CARRY_MAX_BYTES,
      });
    } catch (error) {
      // A file's own read error skips it, as below; a failed worker ends the backup.
      throw error instanceof FileReadError ? error : new StoreFailure(error);
    }
    if (digest === undefined || !unchangedSince(path, identity))
      return undefined;
    const carried = new Map(
      digest.carried.map(({ index, bytes }) => [index, bytes]),
    );
    const content: BlobId[] = [];
    for (let index = 0; index < digest.lengths.length; index++) {
      const id = digest.ids.slice(index * 32, index * 32 + 32);
      content.push(id);
      if (this.#blobSaver.has(id)) continue;
      const bytes = carried.get(index);
      if (bytes === undefined) return undefined;
      try {
        await this.#blobSaver.add("data", id, bytes);
      } catch (error) {
        throw new StoreFailure(error);
      }
    }
    this.#countBytes(digest.size);
    return {
      content,
      checksum: this.#repo.fileChecksum(digest.size, content),
      size: digest.size,
    };
  }

  /**
   * Chunks and queues a stream's bytes as one file's content (backup --stdin): the same chunk
   * stream as a file's, fed whatever pieces the stream gives until it ends.
   */
  async readStream(
    input: AsyncIterable<Uint8Array>,
  ): Promise<CachedContent & { size: number }> {
    const builder = this.#contentBuilder();
    for await (const data of input)
      await builder.push(
        Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      );
    return await builder.finish();
  }

  /**
   * Chunks and queues a file's whole content, read already (SmallFileBatches): the same
   * routes, and so the same ids and checksum, as read() takes for those bytes. A digest made
   * in a worker gives the one chunk's id and the checksum, and its blob is sealed already.
   * `inline`: the size lstat gave went inline (InlineBudget); the file does only when the
   * bytes read are small enough too.
   */
  async saveRead(
    { data, digest }: SmallFileRead,
    inline: boolean,
  ): Promise<FileRead> {
    if (inline && isInlineSize(data.length)) {
      this.#countBytes(data.length);
      return inlineRead(this.#repo, data, digest?.checksum);
    }
    if (digest !== undefined) {
      this.#countBytes(data.length);
      try {
        // Not borrowed: the batch's buffer is no one else's, so no copy is needed.
        await this.#blobSaver.add("data", digest.id, data);
      } catch (error) {
        throw new StoreFailure(error);
      }
      return {
        content: [digest.id],
        checksum: { kind: "chunk-ids", digest: digest.checksum },
        size: data.length,
      };
    }
    if (data.length > 0 && data.length < this.#repo.config.chunker.minSize)
      return await this.#oneChunkFile(data);
    return await this.#contentBuilder().whole(data);
  }

  /** `inline`: lstat saw a size that goes inline, so the bytes do if they still fit. */
  async #readSmallFile(path: Buffer, inline: boolean): Promise<FileRead> {
    const fd = openSync(path, OPEN_FLAGS);
    const buffer = this.#takeBuffer();
    try {
      let filled = readSync(fd, buffer, 0, READ_SIZE, null);
      if (filled > 0 && filled < READ_SIZE) {
        // Until end of file, not just the size stat() saw: the file may have grown since.
        const more = readSync(fd, buffer, filled, READ_SIZE - filled, null);
        if (more === 0 && inline && isInlineSize(filled)) {
          this.#countBytes(filled);
          return inlineRead(this.#repo, buffer.subarray(0, filled));
        }
        if (more === 0 && filled < this.#repo.config.chunker.minSize)
          return await this.#oneChunkFile(buffer.subarray(0, filled));
        // Read whole: cut in place, no carry copy (ChunkStream.whole).
        if (more === 0)
          return await this.#contentBuilder().whole(buffer.subarray(0, filled));
        filled += more;
      }
      const builder = this.#contentBuilder();
      if (filled > 0)
        for (;;) {
          await builder.push(buffer.subarray(0, filled));
          filled = readSync(fd, buffer, 0, READ_SIZE, null);
          if (filled === 0) break;
        }
      return await builder.finish();
    } finally {
      closeSync(fd);
      this.#spareBuffers.push(buffer);
    }
  }

  /**
   * A whole file shorter than the chunker's minimum size: the chunker would return it as one
   * chunk, so it is that chunk, without a chunker, a carry copy or a streaming hash (most
   * files of a tree of many small files: docs/performance.md).
   */
  async #oneChunkFile(data: Buffer): Promise<CachedContent & { size: number }> {
    this.#countBytes(data.length);
    const id = this.#repo.blobId(data);
    try {
      await this.#blobSaver.addBorrowed("data", id, data);
    } catch (error) {
      throw new StoreFailure(error);
    }
    const content = [id];
    return {
      content,
      checksum: this.#repo.fileChecksum(data.length, content),
      size: data.length,
    };
  }
}
