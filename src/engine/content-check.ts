/**
 * Checking a file's content against the whole-file checksum its tree records, for both kinds
 * (repo/file-checksum.ts): the SHA-256 of the plaintext (trees of format 1 and 2), or the keyed
 * hash over the size and ordered chunk ids (format 3), which holds only once every chunk's id
 * has been recomputed from the bytes actually read. Restore, `cat`, `dump` and `check
 * --read-data` feed it blobs in the entry's order (BlobContentCheck); restore's read-backs feed
 * it bytes from disk (DiskContentCheck, readBackCheck).
 */
import { createHash, type Hash } from "node:crypto";
import type { FileChecksum, FileEntry, Repository } from "../repo/index.js";
import { bytesEqual } from "../util/bytes.js";
import { ChunkStream } from "./backup/index.js";

/** What checking a checksum needs from a repository: its keyed hashes, no key bytes. */
export type ChecksumRepository = Pick<Repository, "blobId" | "fileChecksum">;
/** What re-chunking a file read from disk needs besides (DiskContentCheck). */
export type ChunkingRepository = ChecksumRepository &
  Pick<Repository, "gear" | "config">;

/** How a message names the checksum a tree records. */
export function checksumName(checksum: FileChecksum): string {
  return checksum.kind === "sha256" ? "SHA-256" : "checksum over its chunk ids";
}

/** Whether the recorded ids and size give the recorded `chunk-ids` checksum. */
function listMatches(repo: ChecksumRepository, entry: FileEntry): boolean {
  return bytesEqual(
    repo.fileChecksum(entry.size, entry.content).digest,
    entry.checksum.digest,
  );
}

/**
 * A file's blobs' plaintexts, fed in the entry's content order. `idsChecked` says the caller
 * opened each blob with its id re-checked (Repository.load's default); otherwise this
 * recomputes each chunk's id for a `chunk-ids` checksum, and a SHA-256 needs none.
 */
export class BlobContentCheck {
  readonly #repo: ChecksumRepository;
  readonly #entry: FileEntry;
  readonly #idsChecked: boolean;
  readonly #hash: Hash | undefined;
  #index = 0;
  #size = 0;
  #idsMatch = true;
  /** Each chunk's length, in order: what DiskContentCheck needs to read the file back. */
  readonly lengths: number[] = [];

  constructor(
    repo: ChecksumRepository,
    entry: FileEntry,
    options: { readonly idsChecked: boolean },
  ) {
    this.#repo = repo;
    this.#entry = entry;
    this.#idsChecked = options.idsChecked;
    this.#hash =
      entry.checksum.kind === "sha256" ? createHash("sha256") : undefined;
  }

  add(plaintext: Uint8Array): void {
    const expected = this.#entry.content[this.#index++];
    if (this.#hash !== undefined) this.#hash.update(plaintext);
    else if (
      expected === undefined ||
      (!this.#idsChecked && !bytesEqual(this.#repo.blobId(plaintext), expected))
    )
      this.#idsMatch = false;
    this.#size += plaintext.length;
    this.lengths.push(plaintext.length);
  }

  /** True when what was added is the whole file the entry records, size and checksum. */
  matches(): boolean {
    const entry = this.#entry;
    if (this.#size !== entry.size || this.#index !== entry.content.length)
      return false;
    if (this.#hash !== undefined)
      return bytesEqual(this.#hash.digest(), entry.checksum.digest);
    return this.#idsMatch && listMatches(this.#repo, entry);
  }
}

/**
 * What a read-back compares with: an entry, or (restore --verify, which keeps less per file)
 * its size and checksum alone; the MAC over the recomputed ids then stands for the id list.
 */
export type DiskTarget = Pick<FileEntry, "size" | "checksum"> &
  Partial<Pick<FileEntry, "content">>;

/**
 * Bytes read from disk, in any pieces, compared with an entry. A `chunk-ids` checksum needs
 * the chunk boundaries: given `lengths` (restore --verify knows what it wrote), the bytes are
 * cut there; otherwise they are cut by the repository's chunker, which finds the boundaries
 * of every file this repository's backups stored (a snapshot copied from another repository
 * keeps that repository's boundaries, and then does not match: fine for a check that only
 * spares a rewrite, see in-place.ts).
 */
export class DiskContentCheck {
  readonly #repo: ChecksumRepository;
  readonly #entry: DiskTarget;
  readonly #hash: Hash | undefined;
  readonly #stream: ChunkStream | undefined;
  readonly #lengths: readonly number[] | undefined;
  /** The chunk being filled, at known lengths. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The ids of the chunks read, recomputed from their bytes. */
  readonly #ids: Uint8Array[] = [];
  #size = 0;
  #idsMatch = true;

  constructor(
    repo: ChunkingRepository,
    entry: DiskTarget,
    lengths?: readonly number[],
  ) {
    this.#repo = repo;
    this.#entry = entry;
    this.#lengths = lengths;
    if (entry.checksum.kind === "sha256") this.#hash = createHash("sha256");
    else if (lengths === undefined)
      this.#stream = new ChunkStream(repo.gear, repo.config.chunker, (view) =>
        repo.blobId(view),
      );
  }

  push(bytes: Uint8Array): void {
    this.#size += bytes.length;
    if (this.#hash !== undefined) this.#hash.update(bytes);
    else if (this.#stream !== undefined)
      for (const chunk of this.#stream.push(bytes)) this.#chunk(chunk.id);
    else this.#cut(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  matches(): boolean {
    const entry = this.#entry;
    if (this.#size !== entry.size) return false;
    if (this.#hash !== undefined)
      return bytesEqual(this.#hash.digest(), entry.checksum.digest);
    if (this.#stream !== undefined)
      for (const chunk of this.#stream.finish().chunks) this.#chunk(chunk.id);
    if (!this.#idsMatch || this.#pendingBytes !== 0) return false;
    if (
      entry.content !== undefined &&
      entry.content.length !== this.#ids.length
    )
      return false;
    return bytesEqual(
      this.#repo.fileChecksum(entry.size, this.#ids).digest,
      entry.checksum.digest,
    );
  }

  #chunk(id: Uint8Array): void {
    const content = this.#entry.content;
    if (content !== undefined) {
      const expected = content[this.#ids.length];
      if (expected === undefined || !bytesEqual(id, expected))
        this.#idsMatch = false;
    }
    this.#ids.push(id);
  }

  /** Cuts bytes at the known lengths, hashing each chunk once it is whole. */
  #cut(bytes: Buffer): void {
    const lengths = this.#lengths ?? [];
    let offset = 0;
    while (offset < bytes.length) {
      const length = lengths[this.#ids.length];
      if (length === undefined) {
        this.#idsMatch = false;
        return;
      }
      const take = Math.min(length - this.#pendingBytes, bytes.length - offset);
      const piece = bytes.subarray(offset, offset + take);
      offset += take;
      if (this.#pendingBytes + take < length) {
        // Copied: the caller reuses its read buffer for the next piece.
        this.#pending.push(Buffer.from(piece));
        this.#pendingBytes += take;
        continue;
      }
      const chunk =
        this.#pending.length === 0
          ? piece
          : Buffer.concat([...this.#pending, piece]);
      this.#chunk(this.#repo.blobId(chunk));
      this.#pending = [];
      this.#pendingBytes = 0;
    }
  }
}
