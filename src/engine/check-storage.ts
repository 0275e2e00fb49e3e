/**
 * `check`'s questions to a store about the objects it keeps of its own (a pack repository's
 * packs and index segments; store.ts, checkStorage): what its index refused, and, for the packs
 * the data selection picks, whether each is still what its name and MACed trailer say. Turns
 * the store's findings into check's problems and --json counts. Stores that keep no such
 * objects (SQLite, remote) are not asked.
 */
import type {
  BlobId,
  StorageCheck,
  StorageProblem,
  Store,
} from "../store/index.js";

export type StorageProblemKind =
  | "damaged-pack"
  | "refused-pack"
  | "damaged-index-segment"
  | "refused-index-segment";

/** The pack store's objects, as `check` counts them (--json's summary, under "storage"). */
export interface StorageReport {
  /** Packs read whole: their SHA-256, trailer and agreement with the index checked. */
  readonly packsRead: number;
  readonly packBytesRead: number;
  /** Packs no segment names whose trailer authenticates (an interrupted backup): not a problem. */
  readonly unindexedPacks: number;
  readonly damagedPacks: number;
  readonly refusedPacks: number;
  readonly damagedSegments: number;
  readonly refusedSegments: number;
}

export interface StorageFinding {
  readonly kind: StorageProblemKind;
  /** The object's name on storage ("packs/3f/3f…", "index/…"). */
  readonly id: string;
  /** One line: what, why, and what it costs. */
  readonly reason: string;
}

/**
 * Asks `store` to check its own objects, reading whole the packs `readPacks` selects (by the
 * raw bytes of the SHA-256 that names them); undefined for a store that keeps none.
 */
export async function checkStoreObjects(
  store: Store,
  readPacks: ((packId: BlobId) => boolean) | undefined,
  onPacksRead: (packsRead: number) => void,
): Promise<
  | { readonly report: StorageReport; readonly problems: StorageFinding[] }
  | undefined
> {
  if (store.checkStorage === undefined) return undefined;
  const check = await store.checkStorage({
    ...(readPacks === undefined ? {} : { readPacks }),
    onProgress: (progress) => {
      onPacksRead(progress.packsRead);
    },
  });
  return { report: reportOf(check), problems: check.problems.map(findingOf) };
}

const KINDS: Record<
  StorageProblem["object"],
  Record<StorageProblem["state"], StorageProblemKind>
> = {
  pack: { damaged: "damaged-pack", refused: "refused-pack" },
  "index-segment": {
    damaged: "damaged-index-segment",
    refused: "refused-index-segment",
  },
};

/** What each finding costs, after its reason. */
const CONSEQUENCES: Record<StorageProblemKind, string> = {
  "damaged-pack": "",
  "refused-pack":
    " (no index segment names it, and its blobs are not indexed from it)",
  "damaged-index-segment":
    "; a client reading the index afresh refuses it (the blobs only it indexes read as missing)",
  "refused-index-segment":
    "; none of its entries is believed (the blobs only it indexes read as missing). A backup " +
    "re-indexes its packs from their trailers; a prune that deletes anything, or deleting the " +
    "object by hand, removes it",
};

function findingOf(problem: StorageProblem): StorageFinding {
  const kind = KINDS[problem.object][problem.state];
  const what =
    problem.object === "pack"
      ? `pack ${problem.name}`
      : `index segment ${problem.name}`;
  return {
    kind,
    id: problem.name,
    reason: `${what} is ${problem.state}: ${problem.reason}${CONSEQUENCES[kind]}`,
  };
}

function reportOf(check: StorageCheck): StorageReport {
  const count = (kind: StorageProblemKind): number =>
    check.problems.filter(
      (problem) => KINDS[problem.object][problem.state] === kind,
    ).length;
  return {
    packsRead: check.packsRead,
    packBytesRead: check.bytesRead,
    unindexedPacks: check.unindexedPacks,
    damagedPacks: count("damaged-pack"),
    refusedPacks: count("refused-pack"),
    damagedSegments: count("damaged-index-segment"),
    refusedSegments: count("refused-index-segment"),
  };
}
