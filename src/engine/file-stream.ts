/**
 * A file's content streamed with its next blobs already on their way: over ssh or S3 each
 * blob is a round trip, and one at a time leaves the link idle while the previous chunk is
 * written out. At most AHEAD blobs are held (each at most the chunker's maximum, 8 MiB).
 * The whole file's checksum is checked at its end (`cat` through browse.ts's streamFile, and
 * `dump`); each blob's id is re-checked as it opens (Repository.load), which a checksum over chunk ids relies on.
 */
import { BlindsyncError } from "../errors.js";
import type { FileEntry, Repository } from "../repo/index.js";
import { BlobContentCheck, checksumName } from "./content-check.js";

/** Blobs requested ahead of the one being written. */
const AHEAD = 3;

export async function streamFileAhead(
  repo: Repository,
  entry: FileEntry,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  const check = new BlobContentCheck(repo, entry, { idsChecked: true });
  // An inline file's bytes came with its tree (format 4): its one piece, checked the same way.
  const pending: Promise<Uint8Array>[] =
    entry.inline === undefined ? [] : [Promise.resolve(entry.inline)];
  let next = 0;
  const requestMore = (): void => {
    while (pending.length <= AHEAD && next < entry.content.length) {
      const loading = repo.load("data", entry.content[next] as Uint8Array);
      // Awaited in order below; this only keeps a failure after an earlier one from being
      // reported as unhandled.
      loading.catch(() => undefined);
      pending.push(loading);
      next++;
    }
  };
  requestMore();
  for (
    let loading = pending.shift();
    loading !== undefined;
    loading = pending.shift()
  ) {
    const chunk = await loading;
    requestMore();
    check.add(chunk);
    await write(chunk);
  }
  if (!check.matches())
    throw new BlindsyncError(
      "integrity",
      `The file content does not match its recorded ${checksumName(entry.checksum)}`,
    );
}
