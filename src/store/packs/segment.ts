/**
 * An index segment: which blobs are in which packs, which earlier segments it replaces, and
 * which blobs it marks deleted. The merged index is the union of every segment not superseded.
 * Authenticated with the index MAC, so storage that edits, swaps or forges a segment cannot
 * make a client believe a blob is stored. Layout in docs/pack-format.md.
 *
 *   segment = "BSIX" | version u8 = 1 | 0 (3) | packs u32 | entries u32 | supersedes u32
 *             | tombstones u32
 *             | packs × (pack id (32) | kind u8 | region length u64)
 *             | entries × (blob id (32) | pack u32 | offset u64 | length u32)
 *             | supersedes × (segment id (32))
 *             | tombstones × (blob id (32) | pack u32)
 *             | MAC (32)
 *   MAC     = HMAC(index key, "blindsync/v1/index-segment\0" | segment before the MAC)
 *
 * "pack" fields index the segment's own pack table.
 */
import { fromHex, toHex } from "../../util/bytes.js";
import type { BlobId, IndexAuthenticator } from "../store.js";
import { contentId } from "./layout.js";
import {
  MAC_LENGTH,
  Reader,
  Writer,
  damaged,
  kindCode,
  kindOfCode,
  labelledMac,
  macEqual,
  type PackedKind,
} from "./wire.js";

const MAGIC = new TextEncoder().encode("BSIX");
const VERSION = 1;
const LABEL = "blindsync/v1/index-segment\0";
const HEADER_LENGTH = 4 + 1 + 3 + 4 * 4;
const PACK_LENGTH = 32 + 1 + 8;
const ENTRY_LENGTH = 32 + 4 + 8 + 4;
const SUPERSEDES_LENGTH = 32;
const TOMBSTONE_LENGTH = 32 + 4;

export interface SegmentPack {
  /** Hex pack id. */
  readonly id: string;
  readonly kind: PackedKind;
  readonly regionLength: number;
}

export interface SegmentEntry {
  readonly id: BlobId;
  /** Index into the segment's packs. */
  readonly pack: number;
  readonly offset: number;
  readonly length: number;
}

export interface Tombstone {
  readonly id: BlobId;
  readonly pack: number;
}

export interface Segment {
  readonly packs: readonly SegmentPack[];
  readonly entries: readonly SegmentEntry[];
  /** Hex ids of the segments this one replaces. */
  readonly supersedes: readonly string[];
  readonly tombstones: readonly Tombstone[];
}

export function encodeSegment(
  segment: Segment,
  authenticator: IndexAuthenticator,
): { id: string; bytes: Uint8Array } {
  const bodyLength =
    HEADER_LENGTH +
    segment.packs.length * PACK_LENGTH +
    segment.entries.length * ENTRY_LENGTH +
    segment.supersedes.length * SUPERSEDES_LENGTH +
    segment.tombstones.length * TOMBSTONE_LENGTH;
  const writer = new Writer(bodyLength + MAC_LENGTH)
    .raw(MAGIC)
    .u8(VERSION)
    .raw(new Uint8Array(3))
    .u32(segment.packs.length)
    .u32(segment.entries.length)
    .u32(segment.supersedes.length)
    .u32(segment.tombstones.length);
  for (const pack of segment.packs)
    writer.raw(fromHex(pack.id)).u8(kindCode(pack.kind)).u64(pack.regionLength);
  for (const entry of segment.entries) {
    checkPackIndex(entry.pack, segment.packs.length);
    writer.raw(entry.id).u32(entry.pack).u64(entry.offset).u32(entry.length);
  }
  for (const id of segment.supersedes) writer.raw(fromHex(id));
  for (const tombstone of segment.tombstones) {
    checkPackIndex(tombstone.pack, segment.packs.length);
    writer.raw(tombstone.id).u32(tombstone.pack);
  }
  writer.raw(
    labelledMac(authenticator, LABEL, writer.bytes.subarray(0, bodyLength)),
  );
  return { id: contentId(writer.bytes), bytes: writer.bytes };
}

/**
 * Parses and authenticates a segment. Throws 'integrity' for anything malformed or a MAC that
 * fails: such a segment is not believed, none of it.
 */
export function decodeSegment(
  bytes: Uint8Array,
  authenticator: IndexAuthenticator,
  what: string,
): Segment {
  if (bytes.length < HEADER_LENGTH + MAC_LENGTH)
    throw damaged(what, "it is too short");
  const body = bytes.subarray(0, bytes.length - MAC_LENGTH);
  if (
    !macEqual(
      bytes.subarray(body.length),
      labelledMac(authenticator, LABEL, body),
    )
  )
    throw damaged(what, "it does not authenticate");
  const reader = new Reader(body, what);
  if (!Buffer.from(reader.raw(4)).equals(MAGIC))
    throw damaged(what, "no segment magic");
  const version = reader.u8();
  if (version !== VERSION)
    throw damaged(what, `unknown segment version ${version}`);
  if (reader.raw(3).some((byte) => byte !== 0))
    throw damaged(what, "bad header");
  const [packCount, entryCount, supersedeCount, tombstoneCount] = [
    reader.u32(),
    reader.u32(),
    reader.u32(),
    reader.u32(),
  ];
  if (
    reader.remaining !==
    packCount * PACK_LENGTH +
      entryCount * ENTRY_LENGTH +
      supersedeCount * SUPERSEDES_LENGTH +
      tombstoneCount * TOMBSTONE_LENGTH
  )
    throw damaged(what, "its length does not match its counts");
  const packs: SegmentPack[] = [];
  for (let index = 0; index < packCount; index++) {
    const id = toHex(reader.raw(32));
    const kind = kindOfCode(reader.u8());
    if (kind === undefined) throw damaged(what, "a pack of unknown kind");
    packs.push({ id, kind, regionLength: reader.u64() });
  }
  const entries: SegmentEntry[] = [];
  for (let index = 0; index < entryCount; index++) {
    const entry = {
      id: reader.raw(32),
      pack: reader.u32(),
      offset: reader.u64(),
      length: reader.u32(),
    };
    const pack = packs[entry.pack];
    if (pack === undefined || entry.offset + entry.length > pack.regionLength)
      throw damaged(what, "an entry lies outside its pack");
    entries.push(entry);
  }
  const supersedes: string[] = [];
  for (let index = 0; index < supersedeCount; index++)
    supersedes.push(toHex(reader.raw(32)));
  const tombstones: Tombstone[] = [];
  for (let index = 0; index < tombstoneCount; index++) {
    const tombstone = { id: reader.raw(32), pack: reader.u32() };
    if (tombstone.pack >= packs.length)
      throw damaged(what, "a tombstone names no pack");
    tombstones.push(tombstone);
  }
  return { packs, entries, supersedes, tombstones };
}

function checkPackIndex(pack: number, count: number): void {
  if (!Number.isInteger(pack) || pack < 0 || pack >= count)
    throw new RangeError(`Segment entry names pack ${pack} of ${count}`);
}
