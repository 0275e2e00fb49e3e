/** The per-entry failures of a restore: each becomes one warning and one counted error. */
import { describeError, isBlindsyncError } from "../../errors.js";
import type { FileEntry } from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { checksumName, type BlobContentCheck } from "../content-check.js";
import type { ProtectedPath } from "./protect.js";

/** A failure that already names what went wrong, for the per-file warning. */
export class EntryFailure extends Error {}

/**
 * The repository's data for an entry is missing or damaged (a blob, a tree, a name, a hash that
 * does not match): the one kind of failure that makes a restore exit with the integrity code.
 * Everything else (something in the way in the target, a permission) is an ordinary failure.
 */
export class DamagedData extends EntryFailure {}

/**
 * Throws DamagedData unless the `size` bytes fed to `check` are the whole file `entry` records:
 * its size, then its checksum. Both ways of writing a file (file-writer.ts, small-file.ts) end
 * with this.
 */
export function assertWholeFile(
  entry: FileEntry,
  size: number,
  check: BlobContentCheck,
): void {
  if (size !== entry.size) {
    throw new DamagedData(
      `its data has ${size} bytes where the snapshot records ${entry.size}`,
    );
  }
  if (!check.matches()) {
    throw new DamagedData(
      `its content does not match the ${checksumName(entry.checksum)} the snapshot records`,
    );
  }
}

/** The entry would replace or remove a protected path (the repository, the cache). */
export class ProtectedRefusal extends EntryFailure {
  constructor(protectedPath: ProtectedPath, relation: "is" | "holds" = "is") {
    super(
      `it ${relation} ${protectedPath.what} ("${protectedPath.path}"), which no restore deletes or overwrites`,
    );
  }
}

export function describeBlobFailure(id: Uint8Array, error: unknown): string {
  const blob = `data blob ${toHex(id)}`;
  if (isBlindsyncError(error, "not-found"))
    return `${blob} is missing from the repository`;
  if (isBlindsyncError(error, "integrity")) {
    return `${blob} failed verification (${describeError(error)})`;
  }
  return `${blob} could not be read (${describeError(error)})`;
}
