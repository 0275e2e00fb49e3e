/**
 * The blob rules, written once for every store that keeps bytes: what a valid id and kind are,
 * that a put never overwrites (so a retried or concurrent upload is harmless and nobody can
 * replace a stored blob), that missing() answers each id once in input order, and that an
 * append-only connection deletes nothing. A store keeps the records behind the small BlobTable
 * below and runs each rule inside one of its transactions.
 */
import { BlindsyncError } from "../../errors.js";
import { toHex } from "../../util/bytes.js";
import {
  BLOB_ID_LENGTH,
  BLOB_KINDS,
  type BlobId,
  type BlobKind,
  type BlobToPut,
} from "../store.js";
import { refuseIfAppendOnly } from "./append-only.js";

/** The blob records of a store; every call of one rule happens inside one transaction. */
export interface BlobTable {
  has(id: BlobId): boolean;
  /** Stores a blob that has() just denied; `index` is its place in the put() batch. */
  insert(blob: BlobToPut, index: number): void;
  /** Removes the blob `id`, if any. */
  remove(id: BlobId): void;
}

/** Throws RangeError for an id that is not 32 bytes, as the Store contract demands. */
export function checkId(id: BlobId): void {
  if (id.length !== BLOB_ID_LENGTH) {
    throw new RangeError(
      `A blob id must be ${BLOB_ID_LENGTH} bytes, not ${id.length}`,
    );
  }
}

export function checkKind(kind: BlobKind): void {
  if (!BLOB_KINDS.includes(kind)) {
    throw new RangeError(`Unknown blob kind "${kind}"`);
  }
}

/** Checks a whole batch before any of it is stored, so that a put is all or nothing. */
export function checkBlobs(blobs: readonly BlobToPut[]): void {
  for (const blob of blobs) {
    checkId(blob.id);
    checkKind(blob.kind);
  }
}

/** The ids of `ids` the table lacks, in input order, each once (copies, never the caller's). */
export function missingIn(table: BlobTable, ids: readonly BlobId[]): BlobId[] {
  ids.forEach(checkId);
  const seen = new Set<string>();
  const result: BlobId[] = [];
  for (const id of ids) {
    const key = toHex(id);
    if (seen.has(key)) continue;
    seen.add(key);
    if (!table.has(id)) result.push(id.slice());
  }
  return result;
}

/** Stores the blobs the table lacks; an id already present (or earlier in the batch) is kept. */
export function putIn(table: BlobTable, blobs: readonly BlobToPut[]): void {
  checkBlobs(blobs);
  blobs.forEach((blob, index) => {
    if (!table.has(blob.id)) table.insert(blob, index);
  });
}

/** Removes blobs, ignoring absent ids; an append-only store refuses before removing any. */
export function deleteIn(
  table: BlobTable,
  ids: readonly BlobId[],
  appendOnly: boolean,
): void {
  refuseIfAppendOnly(appendOnly, "delete blobs");
  ids.forEach(checkId);
  for (const id of ids) table.remove(id);
}

export function blobNotFoundError(id: BlobId): BlindsyncError {
  return new BlindsyncError(
    "not-found",
    `Blob ${toHex(id)} is not in the repository`,
  );
}
