/**
 * Checks and errors shared by every Store that keeps bytes, so that all of them word the same
 * condition the same way (the lock rules have their own module, locks.ts).
 */
import { BlindsyncError } from "../errors.js";
import { toHex } from "../util/bytes.js";
import {
  BLOB_ID_LENGTH,
  BLOB_KINDS,
  type BlobId,
  type BlobToPut,
} from "./store.js";

/** Throws RangeError for an id that is not 32 bytes, as the Store contract demands. */
export function checkId(id: BlobId): void {
  if (id.length !== BLOB_ID_LENGTH) {
    throw new RangeError(
      `A blob id must be ${BLOB_ID_LENGTH} bytes, not ${id.length}`,
    );
  }
}

export function checkBlobToPut(blob: BlobToPut): void {
  checkId(blob.id);
  if (!BLOB_KINDS.includes(blob.kind)) {
    throw new RangeError(`Unknown blob kind "${blob.kind}"`);
  }
}

export function blobNotFoundError(id: BlobId): BlindsyncError {
  return new BlindsyncError(
    "not-found",
    `Blob ${toHex(id)} is not in the repository`,
  );
}

export function appendOnlyError(action: string): BlindsyncError {
  return new BlindsyncError(
    "append-only",
    `The repository is append-only: cannot ${action}`,
    {
      hint: "Use a connection that is not append-only (a separate key whose forced command lacks --append-only)",
    },
  );
}

export function keySlotExistsError(name: string): BlindsyncError {
  return new BlindsyncError("failed", `Key slot "${name}" already exists`);
}

export function keySlotNotFoundError(name: string): BlindsyncError {
  return new BlindsyncError("not-found", `No key slot named "${name}"`);
}

export function lastKeySlotError(name: string): BlindsyncError {
  return new BlindsyncError(
    "failed",
    `Cannot remove key slot "${name}": it is the last one, and without it the repository cannot be opened`,
    { hint: "Add another key first with: blindsync key add" },
  );
}
