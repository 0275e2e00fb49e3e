/**
 * Writing to a pack repository in the one order that loses nothing: packs first, then the
 * segment that indexes them (applied to the local index only once stored). Shared by put, the
 * resume of interrupted backups and compact.
 */
import { concatBytes } from "../../util/bytes.js";
import type { ObjectStore } from "../objects/index.js";
import type { BlobId, IndexAuthenticator } from "../store.js";
import type { IndexCache } from "./index-cache.js";
import { packName, segmentName } from "./layout.js";
import {
  encodeSegment,
  type Segment,
  type SegmentEntry,
  type SegmentPack,
  type Tombstone,
} from "./segment.js";
import { buildPack, type PackContents } from "./trailer.js";
import type { PackedKind } from "./wire.js";

export interface WriterContext {
  readonly objects: ObjectStore;
  readonly cache: IndexCache;
  readonly authenticator: IndexAuthenticator;
  /** A pack is closed once its blobs reach this many bytes. */
  readonly packSize: number;
  /** A segment holds at most this many entries; more are spread over several. */
  readonly segmentEntries: number;
}

/** A stored pack and what its trailer lists. */
export interface WrittenPack extends PackContents {
  readonly id: string;
}

/** Packs blobs of one kind (in order) up to packSize each, and stores each pack. */
export async function writePacks(
  context: WriterContext,
  kind: PackedKind,
  blobs: readonly { readonly id: BlobId; readonly bytes: Uint8Array }[],
): Promise<WrittenPack[]> {
  const written: WrittenPack[] = [];
  for (const group of packGroups(blobs, context.packSize)) {
    const pack = buildPack(kind, group, context.authenticator);
    const name = packName(pack.id);
    // Sent as its parts where the store can (no 8 MiB copy per pack); joined for the others.
    if (context.objects.putParts !== undefined)
      await context.objects.putParts(name, pack.parts);
    else await context.objects.put(name, concatBytes(pack.parts));
    written.push({
      id: pack.id,
      kind,
      regionLength: pack.regionLength,
      entries: pack.entries,
    });
  }
  return written;
}

/** Consecutive groups of at most `packSize` bytes (a bigger blob goes alone). */
export function packGroups<T extends { readonly bytes: Uint8Array }>(
  blobs: readonly T[],
  packSize: number,
): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const blob of blobs) {
    if (current.length > 0 && bytes + blob.bytes.length > packSize) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(blob);
    bytes += blob.bytes.length;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** What a segment says about one pack: the pack, and the entries and tombstones in it. */
export interface PackRecord {
  readonly pack: SegmentPack;
  readonly entries: readonly Omit<SegmentEntry, "pack">[];
  readonly tombstones?: readonly BlobId[];
}

export function packRecord(pack: WrittenPack): PackRecord {
  return {
    pack: { id: pack.id, kind: pack.kind, regionLength: pack.regionLength },
    entries: pack.entries,
  };
}

/**
 * Stores segments that index `records` and supersede `supersedes` (every one of them names all
 * of `supersedes`, so a crash between two leaves no superseded entry believed), then applies
 * each to the local index. Returns the new segments' ids.
 */
export async function writeSegments(
  context: WriterContext,
  records: readonly PackRecord[],
  supersedes: readonly string[] = [],
): Promise<string[]> {
  const ids: string[] = [];
  for (const group of segmentGroups(records, context.segmentEntries)) {
    const segment = toSegment(group, supersedes);
    const { id, bytes } = encodeSegment(segment, context.authenticator);
    await context.objects.put(segmentName(id), bytes);
    context.cache.apply(id, segment);
    ids.push(id);
  }
  return ids;
}

function segmentGroups(
  records: readonly PackRecord[],
  limit: number,
): PackRecord[][] {
  const groups: PackRecord[][] = [];
  let current: PackRecord[] = [];
  let count = 0;
  for (const record of records) {
    const size = record.entries.length + (record.tombstones?.length ?? 0);
    if (current.length > 0 && count + size > limit) {
      groups.push(current);
      current = [];
      count = 0;
    }
    current.push(record);
    count += size;
  }
  // A segment that only supersedes (everything was deleted) still has to be written.
  if (current.length > 0 || groups.length === 0) groups.push(current);
  return groups;
}

function toSegment(
  records: readonly PackRecord[],
  supersedes: readonly string[],
): Segment {
  const packs: SegmentPack[] = [];
  const entries: SegmentEntry[] = [];
  const tombstones: Tombstone[] = [];
  for (const record of records) {
    const pack = packs.length;
    packs.push(record.pack);
    for (const entry of record.entries) entries.push({ ...entry, pack });
    for (const id of record.tombstones ?? []) tombstones.push({ id, pack });
  }
  return { packs, entries, supersedes, tombstones };
}
