/**
 * `dump` of a directory: the subtree as a tar stream (tar.ts), depth first, each directory
 * before what it holds, every file's content verified against its SHA-256 as it streams (as
 * `cat` does: a mismatch stops the stream with an integrity error, after the bytes already
 * sent). A file with more than one link in the snapshot is stored once, and its later names
 * as tar hardlinks to the first, so `tar -x` recreates the link; a fifo is a tar FIFO entry.
 */
import { BlindsyncError } from "../errors.js";
import type { Repository, TreeEntry } from "../repo/index.js";
import type { BlobId } from "../store/index.js";
import { withHeapHeadroom } from "../util/heap-growth.js";
import { streamFileAhead } from "./file-stream.js";
import { TarWriter } from "./tar.js";

export interface DumpSink {
  /** Writes one chunk of the archive; the next comes once it resolves. */
  write(chunk: Uint8Array): Promise<void>;
  /** An entry the tar format here cannot carry (a type of a newer snapshot format). */
  skipped(path: Buffer, type: string): void;
}

const SLASH = Buffer.from("/");

/**
 * Writes the tree `tree` as a tar archive. `top`: the path its entries start with (the dumped
 * directory's own name, whose entry comes first with `topEntry`'s metadata), or empty to
 * put the tree's entries at the archive's top (the snapshot root).
 */
export async function dumpTree(
  repo: Repository,
  tree: BlobId,
  top: { readonly name: Buffer; readonly entry: TreeEntry } | undefined,
  sink: DumpSink,
): Promise<void> {
  const tar = new TarWriter((chunk) => sink.write(chunk));
  const firstNameOfLink = new Map<string, Buffer>();

  const addEntry = async (path: Buffer, entry: TreeEntry): Promise<void> => {
    const base = {
      path,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtimeNs: entry.mtimeNs,
    };
    switch (entry.type) {
      case "dir":
        await tar.add({ ...base, type: "dir", size: 0 });
        await walk(entry.subtree, path);
        return;
      case "symlink":
        await tar.add({
          ...base,
          type: "symlink",
          size: 0,
          link: entry.target,
        });
        return;
      case "fifo":
        // A named pipe has no content: tar's FIFO type recreates it, as restore does.
        await tar.add({ ...base, type: "fifo", size: 0 });
        return;
      case "file": {
        const linkKey =
          entry.hardlink === undefined
            ? undefined
            : `${entry.hardlink.dev}:${entry.hardlink.ino}`;
        const first =
          linkKey === undefined ? undefined : firstNameOfLink.get(linkKey);
        if (first !== undefined) {
          await tar.add({ ...base, type: "hardlink", size: 0, link: first });
          return;
        }
        if (linkKey !== undefined) firstNameOfLink.set(linkKey, path);
        await tar.add({ ...base, type: "file", size: entry.size });
        await streamFileAhead(repo, entry, async (chunk) => {
          if (chunk.length > tar.missing) throw sizeMismatch(path);
          await tar.content(chunk);
        });
        if (tar.missing !== 0) throw sizeMismatch(path);
        return;
      }
      default:
        // A type a newer snapshot format added.
        sink.skipped(path, (entry as { type: string }).type);
    }
  };

  const walk = async (id: BlobId, prefix: Buffer): Promise<void> => {
    for (const entry of (await repo.loadTree(id)).entries) {
      const name = Buffer.from(entry.name);
      await addEntry(
        prefix.length === 0 ? name : Buffer.concat([prefix, SLASH, name]),
        entry,
      );
    }
  };

  // Blobs stream through a small live heap: headroom spares the collections (browse.ts).
  await withHeapHeadroom(async () => {
    if (top === undefined) await walk(tree, Buffer.alloc(0));
    else await addEntry(top.name, top.entry);
    await tar.finish();
  });
}

function sizeMismatch(path: Buffer): BlindsyncError {
  return new BlindsyncError(
    "integrity",
    `The content of "${path.toString("utf8")}" does not have the size its tree records`,
  );
}
