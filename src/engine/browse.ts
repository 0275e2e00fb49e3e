/**
 * Reading snapshots without restoring them: find an entry by path, list a tree, stream a
 * file's verified content, and compare two snapshots. Identical subtree ids are skipped
 * without loading them, so a diff of two close snapshots reads only what changed.
 */
import { createHash } from "node:crypto";
import { BlindsyncError } from "../errors.js";
import { withHeapHeadroom } from "../util/heap-growth.js";
import { streamFileAhead } from "./file-stream.js";
import {
  compareNames,
  sameChecksum,
  type FileEntry,
  type Repository,
  type TreeEntry,
} from "../repo/index.js";
import type { BlobId } from "../store/index.js";
import { bytesEqual } from "../util/bytes.js";

export interface FoundEntry {
  /** Undefined for the snapshot root. */
  readonly entry: TreeEntry | undefined;
  /** The tree to list when the path names a directory (or the root). */
  readonly tree: BlobId | undefined;
}

/** Splits a user-given relative path into name components ('' and '.' components dropped). */
export function pathComponents(path: string): Buffer[] {
  return path
    .split("/")
    .filter((part) => part !== "" && part !== ".")
    .map((part) => Buffer.from(part));
}

/** Resolves a path relative to the snapshot root; throws 'not-found' with the path. */
export async function findEntry(
  repo: Repository,
  root: BlobId,
  path: string,
): Promise<FoundEntry> {
  let tree: BlobId | undefined = root;
  let entry: TreeEntry | undefined;
  for (const name of pathComponents(path)) {
    if (tree === undefined)
      throw new BlindsyncError("not-found", `"${path}" is not in the snapshot`);
    const entries: readonly TreeEntry[] = (await repo.loadTree(tree)).entries;
    entry = entries.find((candidate) => bytesEqual(candidate.name, name));
    if (entry === undefined)
      throw new BlindsyncError("not-found", `"${path}" is not in the snapshot`);
    tree = entry.type === "dir" ? entry.subtree : undefined;
  }
  return { entry, tree };
}

export interface ListedEntry {
  /** Path relative to the snapshot root, as bytes joined by '/'. */
  readonly path: Buffer;
  readonly entry: TreeEntry;
}

function join(prefix: Buffer, name: Uint8Array): Buffer {
  return prefix.length === 0
    ? Buffer.from(name)
    : Buffer.concat([prefix, Buffer.from("/"), name]);
}

/** Lists a tree depth-first, parents before children; recursive by default. */
export async function* listTree(
  repo: Repository,
  tree: BlobId,
  prefix: Buffer = Buffer.alloc(0),
  recursive = true,
): AsyncGenerator<ListedEntry> {
  for (const entry of (await repo.loadTree(tree)).entries) {
    const path = join(prefix, entry.name);
    yield { path, entry };
    if (recursive && entry.type === "dir")
      yield* listTree(repo, entry.subtree, path, true);
  }
}

/**
 * Streams a file's content to `write`, its next blobs already on their way (file-stream.ts).
 * The whole-file checksum is checked at the end; a mismatch throws an integrity error (the
 * caller has then received unverified bytes, which is acceptable for `cat` to a pipe but not
 * for restore). With heap headroom: blobs stream through a small live heap, which the CLI's
 * tight heap growth would collect every few blobs (docs/performance.md, "Restore CPU, round
 * two"). A `cat` of a 256 MiB file, local: 1.0-1.2 s of user CPU, against 1.3-1.5 s one blob
 * at a time without headroom.
 */
export async function streamFile(
  repo: Repository,
  entry: TreeEntry,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  if (entry.type !== "file")
    throw new BlindsyncError("usage", "Only files have content to print");
  await withHeapHeadroom(() => streamFileAhead(repo, entry, write));
}

export type ChangeKind = "added" | "removed" | "modified";

export interface Change {
  readonly kind: ChangeKind;
  readonly path: Buffer;
  readonly entry: TreeEntry;
}

/**
 * Whether two files of one repository hold the same content. Checksums of one kind say so; a
 * file an older version recorded with a SHA-256 and a newer one with a checksum over chunk ids
 * (an unchanged file across the upgrade) are compared by their chunk ids, which the
 * repository's keyed chunker makes the same for the same content, or, when the newer one is
 * inline (tree format 4), by the SHA-256 of its bytes.
 */
function sameContent(a: FileEntry, b: FileEntry): boolean {
  if (a.checksum.kind === b.checksum.kind)
    return sameChecksum(a.checksum, b.checksum);
  const [sha256, other] = a.checksum.kind === "sha256" ? [a, b] : [b, a];
  if (other.inline !== undefined)
    return bytesEqual(
      createHash("sha256").update(other.inline).digest(),
      sha256.checksum.digest,
    );
  return (
    a.content.length === b.content.length &&
    a.content.every((id, index) => bytesEqual(id, b.content[index] as BlobId))
  );
}

function sameEntry(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type !== b.type || a.mode !== b.mode || a.mtimeNs !== b.mtimeNs)
    return false;
  if (a.uid !== b.uid || a.gid !== b.gid) return false;
  if (a.type === "file" && b.type === "file")
    return a.size === b.size && sameContent(a, b);
  if (a.type === "symlink" && b.type === "symlink")
    return bytesEqual(a.target, b.target);
  return true;
}

async function* everything(
  repo: Repository,
  kind: ChangeKind,
  path: Buffer,
  entry: TreeEntry,
): AsyncGenerator<Change> {
  yield { kind, path, entry };
  if (entry.type === "dir") {
    for await (const listed of listTree(repo, entry.subtree, path))
      yield { kind, ...listed };
  }
}

/** Compares two trees; yields changes sorted by path within each directory. */
export async function* diffTrees(
  repo: Repository,
  before: BlobId,
  after: BlobId,
  prefix: Buffer = Buffer.alloc(0),
): AsyncGenerator<Change> {
  if (bytesEqual(before, after)) return;
  const left = (await repo.loadTree(before)).entries;
  const right = (await repo.loadTree(after)).entries;
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    const a = left[i];
    const b = right[j];
    const order =
      a === undefined ? 1 : b === undefined ? -1 : compareNames(a.name, b.name);
    if (order < 0 && a !== undefined) {
      yield* everything(repo, "removed", join(prefix, a.name), a);
      i++;
    } else if (order > 0 && b !== undefined) {
      yield* everything(repo, "added", join(prefix, b.name), b);
      j++;
    } else if (a !== undefined && b !== undefined) {
      const path = join(prefix, a.name);
      if (a.type === "dir" && b.type === "dir") {
        if (!sameEntry(a, b)) yield { kind: "modified", path, entry: b };
        yield* diffTrees(repo, a.subtree, b.subtree, path);
      } else if (a.type !== b.type) {
        yield* everything(repo, "removed", path, a);
        yield* everything(repo, "added", path, b);
      } else if (!sameEntry(a, b)) {
        yield { kind: "modified", path, entry: b };
      }
      i++;
      j++;
    }
  }
}
