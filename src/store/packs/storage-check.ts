/**
 * The pack store's side of `check`: what the index refused to believe, and, for the packs the
 * caller selects (`check --read-data`), whether each pack is still what its name and its MACed
 * trailer say. Blobs are checked above the seam (the repository opens each one); this finds
 * what no blob read can: a flipped byte in a trailer or footer (every blob still opens, but the
 * next client that indexes the pack from its trailer, or a prune that repacks it, cannot), a
 * segment storage changed after this client applied it (the next client refuses it and its
 * blobs read as missing), and packs or segments that do not authenticate at all.
 *
 * Reads packs a few at a time, one whole object each (the pack size bounds memory), and
 * reports damage as problems rather than throwing: check goes on and names everything.
 */
import { BlindsyncError, describeError } from "../../errors.js";
import type { ObjectInfo } from "../objects/index.js";
import type {
  StorageCheck,
  StorageCheckOptions,
  StorageProblem,
} from "../store.js";
import { fromHex, toHex } from "../../util/bytes.js";
import { inParallel, type IndexSync } from "./index-sync.js";
import {
  INDEX_PREFIX,
  contentId,
  packIdOf,
  segmentIdOf,
  segmentName,
} from "./layout.js";
import { readTrailer } from "./resume.js";
import { decodeSegment } from "./segment.js";
import { parsePackTail, type PackContents } from "./trailer.js";
import type { WriterContext } from "./writer.js";

/** Whole packs read at once: enough to hide a round trip, few enough to bound memory. */
const PACK_READS = 2;

export async function checkPackStorage(
  context: WriterContext,
  sync: IndexSync,
  options: StorageCheckOptions,
): Promise<StorageCheck> {
  const problems = new Map<string, StorageProblem>();
  // Each object is named once, by what is found first: a segment the index refused is named
  // as refused (what that costs) even when its bytes no longer hash to its name either.
  const report = (problem: StorageProblem): void => {
    if (!problems.has(problem.name)) problems.set(problem.name, problem);
  };
  await sync.opened(context);
  const packs = await sync.packsListed(context);
  for (const id of context.cache.rejected())
    report({
      object: "index-segment",
      name: segmentName(id),
      state: "refused",
      reason: await refusalReason(context, id),
    });
  if (options.readPacks !== undefined) await checkSegments(context, report);

  let packsRead = 0;
  let bytesRead = 0;
  let unindexedPacks = 0;
  const readPacks = options.readPacks;
  await inParallel(packs, PACK_READS, async (info) => {
    const id = packIdOf(info.name);
    if (id === undefined) return;
    const indexed = context.cache.knowsPack(id);
    const whole = readPacks?.(fromHex(id)) === true;
    let contents: PackContents;
    try {
      if (whole) {
        const bytes = await context.objects.get(info.name);
        packsRead += 1;
        bytesRead += bytes.length;
        options.onProgress?.({ packsRead, bytesRead });
        if (contentId(bytes) !== id) {
          report(damagedPack(info, "its SHA-256 is not its name"));
          return;
        }
        contents = parsePackTail(
          bytes,
          bytes.length,
          context.authenticator,
          `Pack ${info.name}`,
        );
      } else if (!indexed) {
        contents = await readTrailer(context, info);
      } else {
        return;
      }
    } catch (error) {
      if (isNotFound(error)) return; // Pruned by another client since the listing.
      if (!isIntegrity(error)) throw error;
      // An indexed pack's trailer authenticated when its writer made it: now it is damaged.
      // A pack no segment names is refused: storage can make objects named by their hash.
      report({
        object: "pack",
        name: info.name,
        state: indexed ? "damaged" : "refused",
        reason: reasonOf(error),
      });
      return;
    }
    if (!indexed) {
      unindexedPacks += 1;
      return;
    }
    const disagreement = disagreementWithIndex(context, id, contents);
    if (disagreement !== undefined) report(damagedPack(info, disagreement));
  });
  return {
    packsRead,
    bytesRead,
    // Those a read indexed from their trailers since this store opened are counted too.
    unindexedPacks: unindexedPacks + sync.indexedFromTrailers,
    problems: [...problems.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    ),
  };
}

/**
 * Re-reads every segment on storage: its SHA-256 must be its name and it must authenticate.
 * The client's cache keeps what it applied, so damage after that shows only here (and in the
 * next client, which would refuse the segment and read its blobs as missing).
 */
async function checkSegments(
  context: WriterContext,
  report: (problem: StorageProblem) => void,
): Promise<void> {
  const names: string[] = [];
  for await (const info of context.objects.list(INDEX_PREFIX))
    if (segmentIdOf(info.name) !== undefined) names.push(info.name);
  await inParallel(names, PACK_READS, async (name) => {
    let bytes: Uint8Array;
    try {
      bytes = await context.objects.get(name);
    } catch (error) {
      if (isNotFound(error)) return; // Superseded and deleted since the listing.
      throw error;
    }
    const problem = (reason: string): StorageProblem => ({
      object: "index-segment",
      name,
      state: "damaged",
      reason,
    });
    if (contentId(bytes) !== segmentIdOf(name)) {
      report(problem("its SHA-256 is not its name"));
      return;
    }
    try {
      decodeSegment(bytes, context.authenticator, `Index segment ${name}`);
    } catch (error) {
      if (!isIntegrity(error)) throw error;
      report(problem(reasonOf(error)));
    }
  });
}

/** Why a segment was refused: its bytes decoded again (refusals are rare and segments small). */
async function refusalReason(
  context: WriterContext,
  id: string,
): Promise<string> {
  const name = segmentName(id);
  try {
    const bytes = await context.objects.get(name);
    decodeSegment(bytes, context.authenticator, `Index segment ${name}`);
  } catch (error) {
    if (isIntegrity(error)) return reasonOf(error);
    if (isNotFound(error)) return "it did not authenticate, and is gone now";
    throw error;
  }
  return "it did not authenticate when it was read";
}

/**
 * Every entry the index gives for a pack must be in its trailer, at the same place: both are
 * MACed, so a disagreement means a writer bug or a key holder's forgery, not bit rot.
 */
function disagreementWithIndex(
  context: WriterContext,
  pack: string,
  contents: PackContents,
): string | undefined {
  const inTrailer = new Map(
    contents.entries.map((entry) => [
      toHex(entry.id),
      `${entry.offset}:${entry.length}`,
    ]),
  );
  for (const entry of context.cache.entriesOf(pack)) {
    const hex = toHex(entry.id);
    if (inTrailer.get(hex) !== `${entry.offset}:${entry.length}`)
      return `the index places blob ${hex.slice(0, 8)} in it where its trailer does not`;
  }
  return undefined;
}

function damagedPack(info: ObjectInfo, reason: string): StorageProblem {
  return { object: "pack", name: info.name, state: "damaged", reason };
}

/** The "why" of a damaged() error, without the object's name the problem already carries. */
function reasonOf(error: unknown): string {
  return describeError(error).replace(/^.*? is damaged: /, "");
}

function isIntegrity(error: unknown): boolean {
  return error instanceof BlindsyncError && error.kind === "integrity";
}

function isNotFound(error: unknown): boolean {
  return error instanceof BlindsyncError && error.kind === "not-found";
}
