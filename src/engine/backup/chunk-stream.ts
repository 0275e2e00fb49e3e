/**
 * The chunk stream: a file's bytes in, its chunks out as (id, view), with the file's size. The
 * one read → chunk → id loop of a backup, used by the main thread (file-saver) and the workers
 * that digest changed files (seal-worker) alike, and by restore's read-back checks. No
 * whole-file hash: the file's checksum is a keyed hash over the chunk ids (file-checksum.ts in
 * repo/), so each byte is hashed once, to its chunk's id.
 */
import { Chunker, type ChunkerParams } from "../../chunker/index.js";
import type { BlobId } from "../../store/index.js";

export interface Chunk {
  readonly id: BlobId;
  /**
   * The chunk's bytes: a view into the buffer last pushed (or the chunker's own), valid only
   * until the next push. A caller that keeps them copies them.
   */
  readonly view: Uint8Array;
}

export class ChunkStream {
  readonly #chunker: Chunker;
  readonly #idOf: (plaintext: Uint8Array) => BlobId;
  #size = 0;

  /** `idOf` is the repository's keyed id (Repository.blobId or a worker's Sealer.blobId). */
  constructor(
    gear: Int32Array,
    params: ChunkerParams,
    idOf: (plaintext: Uint8Array) => BlobId,
  ) {
    this.#chunker = new Chunker(gear, params);
    this.#idOf = idOf;
  }

  /** Bytes read so far. */
  get size(): number {
    return this.#size;
  }

  /** Takes the next bytes of the file; returns the chunks they complete. */
  push(data: Uint8Array): Chunk[] {
    this.#size += data.length;
    return this.#identify(this.#chunker.pushViews(data));
  }

  /**
   * A whole file's bytes at once, on a fresh stream: the chunks push() then finish() would
   * give, as views of `data`, without copying any of it (Chunker.cutWhole).
   */
  whole(data: Uint8Array): Chunk[] {
    this.#size += data.length;
    return this.#identify(this.#chunker.cutWhole(data));
  }

  /** Ends the file: its last chunks. */
  finish(): { readonly chunks: Chunk[] } {
    return { chunks: this.#identify(this.#chunker.finishViews()) };
  }

  #identify(views: Uint8Array[]): Chunk[] {
    return views.map((view) => ({ id: this.#idOf(view), view }));
  }
}
