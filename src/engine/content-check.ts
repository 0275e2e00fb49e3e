/**
 * Checking a file's content against the whole-file checksum its tree records, for both kinds
 * (repo/file-checksum.ts): the SHA-256 of the plaintext (trees of format 1 and 2), or the keyed
 * hash over the size and ordered chunk ids (format 3), which holds only once every chunk's id
 * has been recomputed from the bytes actually read. Restore, `cat`, `dump` and `check
 * --read-data` feed it blobs in the entry's order (BlobContentCheck); restore's read-backs feed
 * it bytes from disk (DiskContentCheck, readBackCheck).
 *
 * An inline file (tree format 4) records the checksum it would have as one data blob, so it
 * is checked as a one-blob file whose id is not recorded but recomputed from its bytes.
 *
 * A checksum a format-5 tree derives (FileChecksum.derived) is the MAC over the entry's own
 * size and ids, so content matches it exactly when it has that size and those ids: the checks
 * compare the ids recomputed from the bytes with the recorded ones (an inline file's bytes
 * with the tree's) and spare the MACs, which could only agree (docs/design.md, "Tree format 5").
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

/**
 * The chunk ids a file's `chunk-ids` checksum is over: the recorded ones, or for an inline file
 * the id of the one blob its bytes would be (recomputed, so the MAC binds the bytes).
 */
export function checksumIds(
  repo: Pick<Repository, "blobId">,
  entry: FileEntry,
): readonly Uint8Array[] {
  return entry.inline === undefined
    ? entry.content
    : [repo.blobId(entry.inline)];
}

/**
 * Whether an inline file's bytes give the checksum its tree records (either kind): all a
 * reader has to check before using them, since they came inside the authenticated tree.
 */
export function inlineMatches(
  repo: ChecksumRepository,
  entry: FileEntry & { readonly inline: Uint8Array },
): boolean {
  const check = new BlobContentCheck(repo, entry, { idsChecked: false });
  check.add(entry.inline);
  return check.matches();
}

/** The number of pieces BlobContentCheck expects: an inline file is one. */
function pieceCount(entry: FileEntry): number {
  return entry.inline === undefined ? entry.content.length : 1;
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
  /** An inline file's one id, recomputed from its bytes (it records none). */
  #inlineId: Uint8Array | undefined;
  /** A derived checksum's inline file: whether the bytes added are the tree's. */
  #inlineSame = false;
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
    const index = this.#index++;
    const expected = this.#entry.content[index];
    if (this.#hash !== undefined) this.#hash.update(plaintext);
    else if (this.#entry.inline !== undefined) {
      if (index === 0 && this.#entry.checksum.derived === true)
        this.#inlineSame = bytesEqual(plaintext, this.#entry.inline);
      else if (index === 0) this.#inlineId = this.#repo.blobId(plaintext);
    } else if (
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
    if (this.#size !== entry.size || this.#index !== pieceCount(entry))
      return false;
    if (this.#hash !== undefined)
      return bytesEqual(this.#hash.digest(), entry.checksum.digest);
    if (entry.checksum.derived === true)
      return entry.inline === undefined ? this.#idsMatch : this.#inlineSame;
    const ids = this.#inlineId === undefined ? entry.content : [this.#inlineId];
    return (
      this.#idsMatch &&
      bytesEqual(
        this.#repo.fileChecksum(entry.size, ids).digest,
        entry.checksum.digest,
      )
    );
  }
}

/**
 * What a read-back compares with: an entry, or (restore --verify, which keeps less per file)
 * its size and checksum alone; the MAC over the recomputed ids then stands for the id list.
 */
export type DiskTarget = Pick<FileEntry, "size" | "checksum"> &
  Partial<Pick<FileEntry, "content" | "inline">>;

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
    // An inline file records no ids to compare with: its one chunk's id is recomputed, and the
    // checksum over it decides, as for a target known by size and checksum alone.
    this.#entry =
      entry.inline === undefined
        ? entry
        : { size: entry.size, checksum: entry.checksum };
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
    // Every id matched the entry's own, over which a derived checksum is made.
    if (entry.content !== undefined && entry.checksum.derived === true)
      return true;
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
