/**
 * Tree blobs: one per directory, a deterministic binary encoding of its entries, so that the
 * same directory always gives the same bytes and therefore the same blob id (a Merkle tree, as
 * in git and restic: an unchanged directory is stored once and costs nothing on a re-run).
 *
 * The decoder treats its input as hostile even though it was authenticated: a client holding
 * the key can craft any tree. It rejects every name restore could misuse, unsorted or
 * duplicate names, out-of-range lengths and trailing bytes, always with an integrity error.
 *
 * All five format versions (1; 2 with owner names and fifos; 3 with the whole-file checksum's
 * kind; 4 with small files' bytes inline; 5 with checksums over chunk ids derived, not stored)
 * are decoded here beside the one encoder, so the rules a tree must meet are written once; the
 * byte reader and writer are in tree-io.ts.
 */
import { BLOB_ID_LENGTH, type BlobId } from "../store/index.js";
import {
  DERIVED_CHECKSUM_CODE,
  DerivedChecksum,
  FILE_CHECKSUM_CODES,
  FILE_CHECKSUM_LENGTH,
  checksumKindOf,
  type ChecksumDeriver,
  type FileChecksum,
} from "./file-checksum.js";
import { invalid, Reader, Writer } from "./tree-io.js";

export { isOwnerName } from "./tree-io.js";

/**
 * The version encodeTree writes. Version 2 added owner and group names beside the numeric ids
 * and the fifo type; version 3 a kind byte before each file's checksum (file-checksum.ts), so
 * a file may carry the keyed hash over its chunk ids instead of its SHA-256; version 4 a
 * content kind byte, so a small file may carry its bytes inline instead of data-blob ids;
 * version 5 a checksum kind code "derived" with no digest after it, for a `chunk-ids`
 * checksum (a function of the entry's size and content, so storing it added 32 random bytes
 * per file and protected nothing the content does not). decodeTree reads versions 1 to 4 too,
 * so older repositories stay readable.
 */
export const TREE_FORMAT_VERSION = 5;
/** The first format: no owner names, no fifos, SHA-256 checksums only. */
export const TREE_FORMAT_V1 = 1;
/** Owner names and fifos; SHA-256 checksums only. */
export const TREE_FORMAT_V2 = 2;
/** The checksum's kind; every file's content is a list of data-blob ids. */
export const TREE_FORMAT_V3 = 3;
/** Inline files; every checksum's digest stored. */
export const TREE_FORMAT_V4 = 4;

export type TreeFormatVersion =
  | typeof TREE_FORMAT_V1
  | typeof TREE_FORMAT_V2
  | typeof TREE_FORMAT_V3
  | typeof TREE_FORMAT_V4
  | typeof TREE_FORMAT_VERSION;

/**
 * The most bytes a file may carry inline (format 4 and later). A format limit, not the backup's choice:
 * a reader refuses more, so the backup's own threshold (engine/backup) may move up to this
 * without a new format. It bounds what one entry adds to its tree.
 */
export const MAX_INLINE_BYTES = 4096;

/** Format 4's content kind byte: what follows it in a file entry. */
const CONTENT_BLOBS = 0;
const CONTENT_INLINE = 1;

/** Permission bits plus setuid, setgid and sticky: what restore may apply. */
export const MODE_MASK = 0o7777;

const TYPE_CODES = { file: 1, dir: 2, symlink: 3, fifo: 4 } as const;
const MAX_NAME_LENGTH = 4096;
const MAX_SYMLINK_TARGET = 65536;

interface EntryBase {
  /** The name's bytes exactly as the file system gave them (Linux names are bytes). */
  readonly name: Uint8Array;
  readonly mode: number;
  /** Nanoseconds since the Unix epoch. */
  readonly mtimeNs: bigint;
  readonly uid: number;
  readonly gid: number;
  /**
   * The owner's and group's names where the backup could resolve them (version 2 trees), so a
   * listing shows names and a restore run as root can map them to this machine's numbers.
   */
  readonly user?: string | undefined;
  readonly group?: string | undefined;
}

export interface HardlinkKey {
  readonly dev: bigint;
  readonly ino: bigint;
}

interface FileEntryBase extends EntryBase {
  readonly type: "file";
  readonly size: number;
  /**
   * Of the whole plaintext file: restore verifies it end to end before renaming. An inline
   * file's is the one it would have as a single data blob (its id recomputed from the bytes).
   * From a format-5 tree a `chunk-ids` one is a DerivedChecksum (file-checksum.ts).
   */
  readonly checksum: FileChecksum;
  /** Set when the file had more than one link, so restore can recreate the hardlink. */
  readonly hardlink?: HardlinkKey;
}

/** A file stored as data blobs (every file before format 4; an empty file has none). */
export interface BlobFileEntry extends FileEntryBase {
  /** Ordered data-blob ids; their plaintexts concatenated are the file. */
  readonly content: readonly BlobId[];
  readonly inline?: undefined;
}

/**
 * A small file whose bytes are inside its directory's tree (format 4): no data blob of its own,
 * so nothing to seal, upload, index or fetch per file.
 */
export interface InlineFileEntry extends FileEntryBase {
  readonly content: readonly [];
  /** The whole file, `size` bytes (1 to MAX_INLINE_BYTES); a view of the tree's bytes. */
  readonly inline: Uint8Array;
}

export type FileEntry = BlobFileEntry | InlineFileEntry;

export interface DirEntry extends EntryBase {
  readonly type: "dir";
  readonly subtree: BlobId;
}

export interface SymlinkEntry extends EntryBase {
  readonly type: "symlink";
  /** Stored and restored as it is, never followed. */
  readonly target: Uint8Array;
}

/** A named pipe: only its metadata is stored; restore recreates it with mkfifo. */
export interface FifoEntry extends EntryBase {
  readonly type: "fifo";
}

export type TreeEntry = FileEntry | DirEntry | SymlinkEntry | FifoEntry;

/** A decoded entry while decodeTree fills in its optional fields. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface Tree {
  readonly entries: readonly TreeEntry[];
}

export function compareNames(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Sorts entries by name bytes; encodeTree requires sorted, unique names. */
export function sortEntries(entries: TreeEntry[]): TreeEntry[] {
  return entries.sort((a, b) => compareNames(a.name, b.name));
}

/** True for a name restore can create as one directory entry; false for anything hostile. */
export function isSafeName(name: Uint8Array): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  if (name.length === 1 && name[0] === 0x2e) return false;
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return false;
  return !name.includes(0x2f) && !name.includes(0);
}

/**
 * Encodes a directory, as version 5 unless told otherwise. Byte layout (all integers big-endian):
 * version u8 | entry count u32 | entries, each:
 * name length u16 | name | type u8 (1 file, 2 dir, 3 symlink, 4 fifo) | mode u32 | mtime ns i64 |
 * uid u32 | gid u32 | user length u8 | user | group length u8 | group | then by type —
 * file: size u64 | checksum kind u8 (1 sha256: checksum (32) follows; 3 derived: nothing
 * follows) | hardlink flag u8 [| dev u64 | ino u64] | content kind u8 | then by content kind —
 * 0: count u32 | ids (32 each); 1: length u32 | the file's bytes (length = size);
 * dir: subtree id (32); symlink: target length u32 | target; fifo: nothing.
 * Version 5 writes every `chunk-ids` checksum as derived (3) and never kind 2. Version 4 is the
 * same with kind 2 (chunk-ids, checksum (32) follows) instead of 3; version 3 also without the
 * content kind (always ids); version 2 also without the checksum kind (always sha256);
 * version 1 also without the two names (and without fifos). Backups always write version 5;
 * the older versions exist so that tests can make the trees older repositories hold and check
 * that what decodeTree accepts is canonical (it re-encodes to the same bytes).
 */
export function encodeTree(
  tree: Tree,
  version: TreeFormatVersion = TREE_FORMAT_VERSION,
): Uint8Array {
  const hasNames = version !== TREE_FORMAT_V1;
  const hasContentKind = version >= TREE_FORMAT_V4;
  const writer = new Writer();
  writer.u8(version);
  writer.u32(tree.entries.length);
  let previous: Uint8Array | undefined;
  for (const entry of tree.entries) {
    if (!isSafeName(entry.name))
      throw new RangeError("Tree entry name is not a single safe name");
    if (previous !== undefined && compareNames(previous, entry.name) >= 0) {
      throw new RangeError("Tree entries must be sorted by name and unique");
    }
    previous = entry.name;
    writer.u16(entry.name.length);
    writer.bytes(entry.name);
    writer.u8(TYPE_CODES[entry.type]);
    writer.u32(entry.mode & MODE_MASK);
    writer.i64(entry.mtimeNs);
    writer.u32(entry.uid);
    writer.u32(entry.gid);
    if (hasNames) {
      writer.ownerName(entry.user);
      writer.ownerName(entry.group);
    } else if (
      entry.user !== undefined ||
      entry.group !== undefined ||
      entry.type === "fifo"
    ) {
      throw new RangeError("Tree format 1 has no owner names and no fifos");
    }
    switch (entry.type) {
      case "file":
        writer.u64(BigInt(entry.size));
        writeChecksum(writer, entry.checksum, version);
        if (entry.hardlink === undefined) {
          writer.u8(0);
        } else {
          writer.u8(1);
          writer.u64(entry.hardlink.dev);
          writer.u64(entry.hardlink.ino);
        }
        if (entry.inline !== undefined) {
          if (!hasContentKind)
            throw new RangeError(`Tree format ${version} has no inline files`);
          if (
            entry.inline.length !== entry.size ||
            entry.inline.length === 0 ||
            entry.inline.length > MAX_INLINE_BYTES
          )
            throw new RangeError(
              `An inline file holds its size in bytes, 1 to ${MAX_INLINE_BYTES}`,
            );
          writer.u8(CONTENT_INLINE);
          writer.u32(entry.inline.length);
          writer.bytes(entry.inline);
          break;
        }
        if (hasContentKind) writer.u8(CONTENT_BLOBS);
        writer.u32(entry.content.length);
        for (const id of entry.content) writer.bytes(id);
        break;
      case "dir":
        writer.bytes(entry.subtree);
        break;
      case "symlink":
        writer.u32(entry.target.length);
        writer.bytes(entry.target);
        break;
      case "fifo":
        break;
    }
  }
  return writer.finish();
}

/**
 * A file's checksum kind and digest. A `chunk-ids` checksum from version 5 on is derived:
 * its kind code alone, whatever digest the entry holds (a reader computes its own from the
 * entry's size and content, and every such checksum was made from exactly those).
 */
function writeChecksum(
  writer: Writer,
  checksum: FileChecksum,
  version: TreeFormatVersion,
): void {
  if (version < TREE_FORMAT_V3) {
    if (checksum.kind !== "sha256")
      throw new RangeError(`Tree format ${version} has SHA-256 checksums only`);
  } else if (version >= TREE_FORMAT_VERSION && checksum.kind === "chunk-ids") {
    writer.u8(DERIVED_CHECKSUM_CODE);
    return;
  } else {
    writer.u8(FILE_CHECKSUM_CODES[checksum.kind]);
  }
  if (checksum.digest.length !== FILE_CHECKSUM_LENGTH)
    throw new RangeError("A file checksum is 32 bytes");
  writer.bytes(checksum.digest);
}

/**
 * Reads a file's stored checksum; undefined for a derived one (format 5), which its entry's
 * content makes once read. Version 5 knows codes 1 (sha256) and 3 (derived) only: a stored
 * `chunk-ids` digest (2) has one encoding there, derived, so it is refused as an unknown code
 * is, and versions 3 and 4 know 3 as nothing (what decodeTree accepts re-encodes the same).
 */
function readChecksum(
  reader: Reader,
  version: number,
): FileChecksum | undefined {
  if (version < TREE_FORMAT_V3)
    return { kind: "sha256", digest: reader.bytes(FILE_CHECKSUM_LENGTH) };
  const code = reader.u8();
  const derives = version >= TREE_FORMAT_VERSION;
  if (derives && code === DERIVED_CHECKSUM_CODE) return undefined;
  const kind = checksumKindOf(code);
  if (kind === undefined || (derives && kind !== "sha256"))
    throw invalid(`unknown file checksum kind ${code}`);
  return { kind, digest: reader.bytes(FILE_CHECKSUM_LENGTH) };
}

/**
 * Decodes and validates a tree blob's plaintext; every defect is an integrity error.
 * `deriver`: the keyed hashes of the repository the tree came from, under which a format-5
 * tree's derived checksums are computed (when first asked for: DerivedChecksum).
 */
export function decodeTree(bytes: Uint8Array, deriver: ChecksumDeriver): Tree {
  const reader = new Reader(bytes);
  const version = reader.u8();
  if (version < TREE_FORMAT_V1 || version > TREE_FORMAT_VERSION)
    throw invalid(`unknown version ${version}`);
  const hasNames = version !== TREE_FORMAT_V1;
  const hasContentKind = version >= TREE_FORMAT_V4;
  const count = reader.u32();
  // Each entry takes at least 24 bytes, so a count beyond that is a lie, not a reason to allocate.
  if (count > reader.remaining / 24)
    throw invalid(`entry count ${count} exceeds the data`);
  const entries: TreeEntry[] = [];
  let previous: Uint8Array | undefined;
  for (let index = 0; index < count; index++) {
    const name = reader.bytes(reader.u16());
    if (!isSafeName(name)) throw invalid("an entry has an unsafe name");
    if (previous !== undefined && compareNames(previous, name) >= 0) {
      throw invalid("entries are not sorted and unique");
    }
    previous = name;
    const typeCode = reader.u8();
    const mode = reader.u32();
    if (mode > MODE_MASK) throw invalid("mode has bits beyond permissions");
    const mtimeNs = reader.i64();
    const uid = reader.u32();
    const gid = reader.u32();
    const user = hasNames ? reader.ownerName() : undefined;
    const group = hasNames ? reader.ownerName() : undefined;
    // Each entry is built as one literal, the optional fields added after, rather than spread
    // from a base object: a restore decodes one entry per file, and the spreads' intermediate
    // objects were a share of its allocation.
    let entry: Mutable<TreeEntry>;
    if (typeCode === TYPE_CODES.file) {
      const size = reader.u64();
      if (size > BigInt(Number.MAX_SAFE_INTEGER))
        throw invalid("file size out of range");
      const stored = readChecksum(reader, version);
      const linkFlag = reader.u8();
      if (linkFlag > 1) throw invalid("bad hardlink flag");
      const hardlink =
        linkFlag === 1 ? { dev: reader.u64(), ino: reader.u64() } : undefined;
      const contentKind = hasContentKind ? reader.u8() : CONTENT_BLOBS;
      const common = { name, mode, mtimeNs, uid, gid } as const;
      let file: Mutable<FileEntry>;
      if (contentKind === CONTENT_BLOBS) {
        const chunkCount = reader.u32();
        if (chunkCount > reader.remaining / BLOB_ID_LENGTH)
          throw invalid("chunk count too large");
        const content: BlobId[] = [];
        for (let chunk = 0; chunk < chunkCount; chunk++)
          content.push(reader.bytes(BLOB_ID_LENGTH));
        const checksum =
          stored ?? new DerivedChecksum(deriver, Number(size), content);
        file = {
          ...common,
          checksum,
          type: "file",
          size: Number(size),
          content,
        };
      } else if (contentKind === CONTENT_INLINE) {
        const length = reader.u32();
        // The one encoding of an empty file is no blob ids; no more than the format allows.
        if (length === 0 || length > MAX_INLINE_BYTES)
          throw invalid("inline file length out of range");
        if (BigInt(length) !== size)
          throw invalid("an inline file's length differs from its size");
        const inline = reader.bytes(length);
        const checksum = stored ?? new DerivedChecksum(deriver, length, inline);
        file = {
          ...common,
          checksum,
          type: "file",
          size: length,
          content: [],
          inline,
        };
      } else {
        throw invalid(`unknown file content kind ${contentKind}`);
      }
      if (hardlink !== undefined) file.hardlink = hardlink;
      entry = file;
    } else if (typeCode === TYPE_CODES.dir) {
      const subtree = reader.bytes(BLOB_ID_LENGTH);
      entry = { name, mode, mtimeNs, uid, gid, type: "dir", subtree };
    } else if (typeCode === TYPE_CODES.symlink) {
      const length = reader.u32();
      if (length === 0 || length > MAX_SYMLINK_TARGET)
        throw invalid("symlink target length");
      const target = reader.bytes(length);
      if (target.includes(0)) throw invalid("symlink target contains NUL");
      entry = { name, mode, mtimeNs, uid, gid, type: "symlink", target };
    } else if (typeCode === TYPE_CODES.fifo && hasNames) {
      entry = { name, mode, mtimeNs, uid, gid, type: "fifo" };
    } else {
      throw invalid(`unknown entry type ${typeCode}`);
    }
    // Absent rather than undefined where the backup did not resolve a name, as before.
    if (user !== undefined) entry.user = user;
    if (group !== undefined) entry.group = group;
    entries.push(entry);
  }
  if (reader.remaining !== 0) throw invalid("trailing bytes");
  return { entries };
}
