/**
 * compact() of a pack repository, prune's last step (restic's prune does the same): packs
 * still mostly used are kept, packs with no live blob are deleted, and the live blobs of the
 * rest (and of small packs, when there are several) are copied into new packs. Then the index
 * is rewritten: new segments list every live blob, the last of them supersedes every old
 * segment, and only then are the old segments and packs deleted. A crash at any point loses no
 * live blob: until the superseding segment is stored the old index stands, and its packs too.
 *
 * Memory is bounded by one pack being read, one being written and one segment's entries.
 */
import { BlindsyncError } from "../../errors.js";
import type { BlobId } from "../store.js";
import type { PackUsage } from "./index-cache.js";
import { contentId, packName, segmentName } from "./layout.js";
import { decodeSegment } from "./segment.js";
import type { PackedKind } from "./wire.js";
import {
  packRecord,
  writePacks,
  writeSegments,
  type PackRecord,
  type WriterContext,
} from "./writer.js";

/** A pack with more than this share of its bytes unused is repacked. */
const MAX_UNUSED = 0.2;
/** A pack under this share of the pack size counts as small. */
const SMALL = 0.25;

interface Plan {
  readonly keep: PackUsage[];
  readonly repack: PackUsage[];
  readonly drop: PackUsage[];
}

export function planCompaction(
  usage: readonly PackUsage[],
  packSize: number,
): Plan {
  const plan: Plan = { keep: [], repack: [], drop: [] };
  const small = (pack: PackUsage) => pack.regionLength < packSize * SMALL;
  const smallCount = new Map<PackedKind, number>();
  for (const pack of usage)
    if (small(pack))
      smallCount.set(pack.kind, (smallCount.get(pack.kind) ?? 0) + 1);
  for (const pack of usage) {
    if (pack.liveBytes === 0) plan.drop.push(pack);
    else if (
      pack.regionLength - pack.liveBytes >
      pack.regionLength * MAX_UNUSED
    )
      plan.repack.push(pack);
    // Many small packs (one per put of a small backup) are merged: fewer objects to list.
    else if (small(pack) && (smallCount.get(pack.kind) ?? 0) > 1)
      plan.repack.push(pack);
    else plan.keep.push(pack);
  }
  return plan;
}

export async function compactPacks(context: WriterContext): Promise<void> {
  const { cache, objects } = context;
  const oldSegments = cache.applied();
  const refused = cache.rejected();
  const plan = planCompaction(cache.packUsage(), context.packSize);
  if (
    plan.repack.length === 0 &&
    plan.drop.length === 0 &&
    oldSegments.length <= 1
  ) {
    await removeRefused(context, refused);
    return;
  }

  const pending: PackRecord[] = [];
  let pendingEntries = 0;
  // New segments are applied as they are written, beside the old (duplicates are harmless);
  // only the last one supersedes, so the index is never without a live blob.
  const flush = async (final: boolean) => {
    if (!final && pendingEntries < context.segmentEntries) return;
    await writeSegments(context, pending.splice(0), final ? oldSegments : []);
    pendingEntries = 0;
  };
  const add = async (record: PackRecord) => {
    pending.push(record);
    pendingEntries += record.entries.length;
    await flush(false);
  };

  for (const pack of plan.keep)
    await add({
      pack: { id: pack.pack, kind: pack.kind, regionLength: pack.regionLength },
      entries: cache.liveEntries(pack.pack),
    });

  const damaged: string[] = [];
  for (const kind of ["data", "tree"] as const) {
    let buffer: { id: BlobId; bytes: Uint8Array }[] = [];
    let buffered = 0;
    const write = async () => {
      for (const written of await writePacks(context, kind, buffer))
        await add(packRecord(written));
      buffer = [];
      buffered = 0;
    };
    for (const pack of plan.repack.filter(
      (candidate) => candidate.kind === kind,
    )) {
      const bytes = await readPack(context, pack.pack);
      if (bytes === undefined) continue;
      // A pack that is not what its name says is left as it is, for check and scrub to report:
      // copying its blobs would give damaged bytes a fresh, valid name.
      if (contentId(bytes) !== pack.pack) {
        damaged.push(pack.pack);
        await add({
          pack: {
            id: pack.pack,
            kind: pack.kind,
            regionLength: pack.regionLength,
          },
          entries: cache.liveEntries(pack.pack),
        });
        continue;
      }
      for (const entry of cache.liveEntries(pack.pack)) {
        buffer.push({
          id: entry.id,
          bytes: bytes.slice(entry.offset, entry.offset + entry.length),
        });
        buffered += entry.length;
      }
      if (buffered >= context.packSize) await write();
    }
    if (buffer.length > 0) await write();
  }
  await flush(true);

  for (const segment of oldSegments) await objects.delete(segmentName(segment));
  await removeRefused(context, refused);
  const kept = new Set(damaged);
  for (const pack of [...plan.drop, ...plan.repack])
    if (!kept.has(pack.pack)) await objects.delete(packName(pack.pack));
}

/**
 * Deletes the segments the index refused (check names them): no client believes any of their
 * entries, and the packs they name are indexed from their trailers by the next backup if no
 * other segment names them. Each is read again first, and kept if it authenticates now (a
 * refusal of bytes that storage served damaged once).
 */
async function removeRefused(
  context: WriterContext,
  refused: readonly string[],
): Promise<void> {
  for (const id of refused) {
    const name = segmentName(id);
    try {
      const bytes = await context.objects.get(name);
      if (contentId(bytes) === id) {
        decodeSegment(bytes, context.authenticator, `Index segment ${name}`);
        continue;
      }
    } catch (error) {
      if (!(error instanceof BlindsyncError)) throw error;
      if (error.kind === "not-found") continue;
      if (error.kind !== "integrity") throw error;
    }
    await context.objects.delete(name);
  }
}

/** The whole pack, or undefined when storage lost it (its blobs then read as missing). */
async function readPack(
  context: WriterContext,
  pack: string,
): Promise<Uint8Array | undefined> {
  try {
    return await context.objects.get(packName(pack));
  } catch (error) {
    if (error instanceof BlindsyncError && error.kind === "not-found")
      return undefined;
    throw error;
  }
}
