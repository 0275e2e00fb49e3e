/**
 * One directory as the walk sees it: the names readdir() gave and each child's lstat(), in a
 * compact form that a listing made ahead of time (prewalk.ts) can hold for tens of thousands
 * of entries. A BigIntStats object costs about 1.2 KiB of heap and is garbage a moment later;
 * the nine fields the archiver reads, packed in a BigInt64Array, cost 72 bytes, and the native
 * addon (native/listdir.c) fills them for a whole directory in one call.
 */
import { constants as fsConstants, lstatSync, readdirSync } from "node:fs";
import { native } from "../../util/native.js";
import { joinPath } from "../fs-names.js";

/** The part of an lstat() result the archiver reads; BigIntStats has this shape too. */
export interface EntryStat {
  readonly mode: bigint;
  readonly nlink: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly size: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  isDirectory(): boolean;
  isFile(): boolean;
  isSymbolicLink(): boolean;
}

/** A directory's children: their names and, for each, its stat or why lstat() failed. */
export interface Listing {
  readonly names: readonly Buffer[];
  readonly stats: readonly (EntryStat | Error)[];
}

/**
 * A listing as it is kept: all names in one buffer (entry i ends at ends[i]), nine stat fields
 * per entry, and the errno of each child whose lstat failed (0 when it did not).
 */
export interface PackedListing {
  readonly names: Buffer;
  readonly ends: Uint32Array;
  readonly stats: BigInt64Array;
  readonly errors: Int32Array;
}

const FIELDS = 9;
/** Bytes of one entry's stat fields in PackedListing.stats. */
export const PACKED_STAT_BYTES = FIELDS * 8;
const TYPE_BITS = BigInt(fsConstants.S_IFMT);
const DIRECTORY = BigInt(fsConstants.S_IFDIR);
const REGULAR = BigInt(fsConstants.S_IFREG);
const SYMLINK = BigInt(fsConstants.S_IFLNK);

/** One entry of a packed array of stats; fields are read back only when asked for. */
class PackedStat implements EntryStat {
  private readonly values: BigInt64Array;
  private readonly base: number;

  constructor(values: BigInt64Array, index: number) {
    this.values = values;
    this.base = index * FIELDS;
  }

  /** Signed storage: the times may be before 1970, the rest are unsigned 64-bit values. */
  private field(offset: number): bigint {
    return this.values[this.base + offset] as bigint;
  }

  private unsigned(offset: number): bigint {
    return BigInt.asUintN(64, this.field(offset));
  }

  get mode(): bigint {
    return this.unsigned(0);
  }
  get nlink(): bigint {
    return this.unsigned(1);
  }
  get uid(): bigint {
    return this.unsigned(2);
  }
  get gid(): bigint {
    return this.unsigned(3);
  }
  get size(): bigint {
    return this.unsigned(4);
  }
  get ino(): bigint {
    return this.unsigned(5);
  }
  get dev(): bigint {
    return this.unsigned(6);
  }
  get mtimeNs(): bigint {
    return this.field(7);
  }
  get ctimeNs(): bigint {
    return this.field(8);
  }
  isDirectory(): boolean {
    return (this.mode & TYPE_BITS) === DIRECTORY;
  }
  isFile(): boolean {
    return (this.mode & TYPE_BITS) === REGULAR;
  }
  isSymbolicLink(): boolean {
    return (this.mode & TYPE_BITS) === SYMLINK;
  }
}

/**
 * The same packed listing from Node's readdir and lstat, where the addon did not build
 * (exported for its test).
 */
export function readListingInNode(path: Buffer): PackedListing {
  const names = readdirSync(path, { encoding: "buffer" });
  const ends = new Uint32Array(names.length);
  const stats = new BigInt64Array(names.length * FIELDS);
  const errors = new Int32Array(names.length);
  let end = 0;
  for (const [index, name] of names.entries()) {
    end += name.length;
    ends[index] = end;
    let stat;
    try {
      stat = lstatSync(joinPath(path, name), { bigint: true });
    } catch {
      // unpackListing() asks again and keeps Node's error for the warning.
      errors[index] = 1;
      continue;
    }
    stats.set(
      [
        stat.mode,
        stat.nlink,
        stat.uid,
        stat.gid,
        stat.size,
        stat.ino,
        stat.dev,
        stat.mtimeNs,
        stat.ctimeNs,
      ],
      index * FIELDS,
    );
  }
  return { names: Buffer.concat(names), ends, stats, errors };
}

/**
 * Lists a directory and lstat()s every child, packed: in one call to the native addon, else
 * through Node. Throws Node's own error when the directory cannot be listed.
 */
export function readPackedListing(path: Buffer): PackedListing {
  if (native === undefined) return readListingInNode(path);
  return native.listDirectory(path) ?? readListingInNode(path);
}

/** The name of entry `index` of a packed listing: a view, not a copy. */
export function packedName(packed: PackedListing, index: number): Buffer {
  const start = index === 0 ? 0 : (packed.ends[index - 1] as number);
  return packed.names.subarray(start, packed.ends[index]);
}

/** Whether lstat said entry `index` is a directory (false when it failed). */
export function packedIsDirectory(
  packed: PackedListing,
  index: number,
): boolean {
  if (packed.errors[index] !== 0) return false;
  const mode = packed.stats[index * FIELDS] as bigint;
  return (mode & TYPE_BITS) === DIRECTORY;
}

/** The lstat() of entry `index`, read from the packed fields (its lstat must have succeeded). */
export function packedStat(packed: PackedListing, index: number): EntryStat {
  return new PackedStat(packed.stats, index);
}

/**
 * The listing's names and stats, one object each, for the archiver. A child whose lstat
 * failed is stat-ed once more here, so the error (or, if it has changed, the stat) is Node's.
 */
export function unpackListing(path: Buffer, packed: PackedListing): Listing {
  const names: Buffer[] = [];
  const stats: (EntryStat | Error)[] = [];
  for (let index = 0; index < packed.ends.length; index++) {
    const name = packedName(packed, index);
    names.push(name);
    if (packed.errors[index] === 0) {
      stats.push(new PackedStat(packed.stats, index));
      continue;
    }
    try {
      stats.push(lstatSync(joinPath(path, name), { bigint: true }));
    } catch (error) {
      stats.push(error instanceof Error ? error : new Error(String(error)));
    }
  }
  return { names, stats };
}
