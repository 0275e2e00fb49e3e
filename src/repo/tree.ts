/**
 * Tree blobs: one per directory, a deterministic binary encoding of its entries, so that the
 * same directory always gives the same bytes and therefore the same blob id (a Merkle tree, as
 * in git and restic: an unchanged directory is stored once and costs nothing on a re-run).
 *
 * The decoder treats its input as hostile even though it was authenticated: a client holding
 * the key can craft any tree. It rejects every name restore could misuse, unsorted or
 * duplicate names, out-of-range lengths and trailing bytes, always with an integrity error.
 *
 * Over 400 lines because all three format versions (1; 2 with owner names and fifos; 3 with
 * the whole-file checksum's kind) are decoded here beside the one encoder, so the rules a tree
 * must meet are written once.
 */
import { BlindsyncError } from "../errors.js";
import { BLOB_ID_LENGTH, type BlobId } from "../store/index.js";
import {
  FILE_CHECKSUM_CODES,
  FILE_CHECKSUM_LENGTH,
  checksumKindOf,
  type FileChecksum,
} from "./file-checksum.js";

/**
 * The version encodeTree writes. Version 2 added owner and group names beside the numeric ids
 * and the fifo type; version 3 a kind byte before each file's checksum (file-checksum.ts), so
 * a file may carry the keyed hash over its chunk ids instead of its SHA-256. decodeTree reads
 * versions 1 and 2 too, so older repositories stay readable.
 */
export const TREE_FORMAT_VERSION = 3;
/** The first format: no owner names, no fifos, SHA-256 checksums only. */
export const TREE_FORMAT_V1 = 1;
/** Owner names and fifos; SHA-256 checksums only. */
export const TREE_FORMAT_V2 = 2;

export type TreeFormatVersion =
  typeof TREE_FORMAT_V1 | typeof TREE_FORMAT_V2 | typeof TREE_FORMAT_VERSION;

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

export interface FileEntry extends EntryBase {
  readonly type: "file";
  readonly size: number;
  /** Of the whole plaintext file: restore verifies it end to end before renaming. */
  readonly checksum: FileChecksum;
  /** Ordered data-blob ids; their plaintexts concatenated are the file. */
  readonly content: readonly BlobId[];
  /** Set when the file had more than one link, so restore can recreate the hardlink. */
  readonly hardlink?: HardlinkKey;
}

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

/** Owner and group names are at most this many bytes (a u8 length; Linux allows 32). */
const MAX_OWNER_NAME = 255;
// ignoreBOM keeps a leading U+FEFF in the name, so decoding never drops bytes the encoder wrote.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * True for a user or group name a tree may carry: 1 to 255 bytes of UTF-8 without control
 * characters or ":" (which /etc/passwd could not hold either), so a listing can show it as it
 * is and a hostile tree cannot smuggle escape sequences into a terminal through it. A lone
 * surrogate is refused too: it has no UTF-8 form, so it could not come back as it went in.
 */
export function isOwnerName(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_OWNER_NAME)
    return false;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  return !/[\u0000-\u001f\u007f-\u009f:\ud800-\udfff]/u.test(name);
}

class Writer {
  private buffer = Buffer.allocUnsafe(4096);
  private offset = 0;

  private ensure(extra: number): void {
    if (this.offset + extra <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(
      Math.max(this.buffer.length * 2, this.offset + extra),
    );
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }
  u8(value: number): void {
    this.ensure(1);
    this.buffer.writeUInt8(value, this.offset);
    this.offset += 1;
  }
  u16(value: number): void {
    this.ensure(2);
    this.buffer.writeUInt16BE(value, this.offset);
    this.offset += 2;
  }
  u32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32BE(value, this.offset);
    this.offset += 4;
  }
  u64(value: bigint): void {
    this.ensure(8);
    this.buffer.writeBigUInt64BE(value, this.offset);
    this.offset += 8;
  }
  i64(value: bigint): void {
    this.ensure(8);
    this.buffer.writeBigInt64BE(value, this.offset);
    this.offset += 8;
  }
  bytes(value: Uint8Array): void {
    this.ensure(value.length);
    this.buffer.set(value, this.offset);
    this.offset += value.length;
  }
  /** A u8 length and the name's UTF-8 bytes; length 0 for a name the backup did not resolve. */
  ownerName(name: string | undefined): void {
    if (name === undefined) {
      this.u8(0);
      return;
    }
    if (!isOwnerName(name))
      throw new RangeError(
        `Owner name ${JSON.stringify(name)} is not storable`,
      );
    const bytes = Buffer.from(name, "utf8");
    this.u8(bytes.length);
    this.bytes(bytes);
  }
  finish(): Uint8Array {
    return new Uint8Array(this.buffer.subarray(0, this.offset));
  }
}

function invalid(reason: string): BlindsyncError {
  return new BlindsyncError("integrity", `Tree blob is malformed: ${reason}`);
}

class Reader {
  private offset = 0;
  private readonly view: Buffer;

  constructor(bytes: Uint8Array) {
    this.view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(count: number): void {
    if (this.offset + count > this.view.length)
      throw invalid("unexpected end of data");
  }
  u8(): number {
    this.need(1);
    return this.view.readUInt8(this.offset++);
  }
  u16(): number {
    this.need(2);
    const value = this.view.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }
  u32(): number {
    this.need(4);
    const value = this.view.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  u64(): bigint {
    this.need(8);
    const value = this.view.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  i64(): bigint {
    this.need(8);
    const value = this.view.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  /**
   * A view of the next `count` bytes, not a copy: a restore decodes a tree entry per file, and
   * a copy (a fresh ArrayBuffer and two views) per name and id was most of decodeTree's
   * allocation. The views keep the tree's plaintext alive, which is no larger than the entries
   * it describes and is never written after it is opened.
   */
  bytes(count: number): Uint8Array {
    this.need(count);
    const value = new Uint8Array(
      this.view.buffer,
      this.view.byteOffset + this.offset,
      count,
    );
    this.offset += count;
    return value;
  }
  /**
   * See Writer.ownerName: undefined for length 0. A directory's entries nearly always share
   * their owner and group, so a name whose bytes equal the last one decoded and accepted is
   * that same string, without decoding and checking it again.
   */
  ownerName(): string | undefined {
    const length = this.u8();
    if (length === 0) return undefined;
    this.need(length);
    const start = this.offset;
    for (const known of this.ownerNames) {
      if (known.bytes.length === length && this.equalsAt(start, known.bytes)) {
        this.offset += length;
        return known.name;
      }
    }
    const bytes = this.bytes(length);
    let name: string;
    try {
      name = strictUtf8.decode(bytes);
    } catch {
      throw invalid("an owner name is not UTF-8");
    }
    if (!isOwnerName(name)) throw invalid("an owner name is not storable");
    // The last two accepted: typically the owner's and the group's name.
    if (this.ownerNames.length === 2) this.ownerNames.shift();
    this.ownerNames.push({ bytes, name });
    return name;
  }
  private readonly ownerNames: { bytes: Uint8Array; name: string }[] = [];
  private equalsAt(start: number, bytes: Uint8Array): boolean {
    for (let index = 0; index < bytes.length; index++)
      if (this.view[start + index] !== bytes[index]) return false;
    return true;
  }
  get remaining(): number {
    return this.view.length - this.offset;
  }
}

/**
 * Encodes a directory, as version 3 unless told otherwise. Byte layout (all integers big-endian):
 * version u8 | entry count u32 | entries, each:
 * name length u16 | name | type u8 (1 file, 2 dir, 3 symlink, 4 fifo) | mode u32 | mtime ns i64 |
 * uid u32 | gid u32 | user length u8 | user | group length u8 | group | then by type —
 * file: size u64 | checksum kind u8 (1 sha256, 2 chunk-ids) | checksum (32) |
 * hardlink flag u8 [| dev u64 | ino u64] | count u32 | ids (32 each);
 * dir: subtree id (32); symlink: target length u32 | target; fifo: nothing.
 * Version 2 is the same without the checksum kind (always sha256); version 1 also without the
 * two names (and without fifos). Backups always write version 3; the older versions exist so
 * that tests can make the trees older repositories hold and check that what decodeTree accepts
 * is canonical (it re-encodes to the same bytes).
 */
export function encodeTree(
  tree: Tree,
  version: TreeFormatVersion = TREE_FORMAT_VERSION,
): Uint8Array {
  const hasNames = version !== TREE_FORMAT_V1;
  const hasChecksumKind = version === TREE_FORMAT_VERSION;
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
        if (hasChecksumKind)
          writer.u8(FILE_CHECKSUM_CODES[entry.checksum.kind]);
        else if (entry.checksum.kind !== "sha256")
          throw new RangeError(
            `Tree format ${version} has SHA-256 checksums only`,
          );
        if (entry.checksum.digest.length !== FILE_CHECKSUM_LENGTH)
          throw new RangeError("A file checksum is 32 bytes");
        writer.bytes(entry.checksum.digest);
        if (entry.hardlink === undefined) {
          writer.u8(0);
        } else {
          writer.u8(1);
          writer.u64(entry.hardlink.dev);
          writer.u64(entry.hardlink.ino);
        }
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

/** Decodes and validates a tree blob's plaintext; every defect is an integrity error. */
export function decodeTree(bytes: Uint8Array): Tree {
  const reader = new Reader(bytes);
  const version = reader.u8();
  if (
    version !== TREE_FORMAT_VERSION &&
    version !== TREE_FORMAT_V2 &&
    version !== TREE_FORMAT_V1
  )
    throw invalid(`unknown version ${version}`);
  const hasNames = version !== TREE_FORMAT_V1;
  const hasChecksumKind = version === TREE_FORMAT_VERSION;
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
      const kind = hasChecksumKind ? checksumKindOf(reader.u8()) : "sha256";
      if (kind === undefined) throw invalid("unknown file checksum kind");
      const checksum = { kind, digest: reader.bytes(FILE_CHECKSUM_LENGTH) };
      const linkFlag = reader.u8();
      if (linkFlag > 1) throw invalid("bad hardlink flag");
      const hardlink =
        linkFlag === 1 ? { dev: reader.u64(), ino: reader.u64() } : undefined;
      const chunkCount = reader.u32();
      if (chunkCount > reader.remaining / BLOB_ID_LENGTH)
        throw invalid("chunk count too large");
      const content: BlobId[] = [];
      for (let chunk = 0; chunk < chunkCount; chunk++)
        content.push(reader.bytes(BLOB_ID_LENGTH));
      const file: Mutable<FileEntry> = {
        name,
        mode,
        mtimeNs,
        uid,
        gid,
        type: "file",
        size: Number(size),
        checksum,
        content,
      };
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
