/**
 * `check`: proves that every snapshot can be restored, and names what cannot.
 *
 * Structure (always): every snapshot's root tree and every tree it reaches loads, authenticates
 * (repo.load checks the AEAD tag and that the id is the keyed hash of the plaintext) and
 * decodes; every data blob a file references is present in the store (asked in batches of
 * PRESENCE_BATCH ids, never one round trip per blob); and the head chain is consistent.
 *
 * Data (with `readData`): every selected data blob is fetched, decrypted and its id verified;
 * every file whose blobs were all selected is also streamed blob by blob through its whole-file
 * checksum (content-check.ts) and compared with the checksum its tree records (never holding a whole file in memory).
 *
 * Each tree is visited once and each data blob's presence asked once, whatever number of
 * snapshots share them. Problems are collected first and only then attributed: a second walk,
 * which descends only into trees that reach something damaged, names every affected path in
 * every snapshot. A healthy repository never pays for that walk.
 *
 * Memory: the walk keeps sets of hex ids (visited trees, data blobs seen, file contents
 * verified), about 100-150 bytes per entry, so roughly 150 MB for a repository of a million
 * chunks (1 TiB at 1 MiB chunks). restic holds its whole index in memory the same way; a
 * SQLite-backed set would be the next step if that ever matters.
 *
 * The head chain: each snapshot names its `previous` head. `forget` legitimately removes old
 * snapshots, and a `previous` that is absent looks the same whoever removed it, so it is only
 * counted (`chainGaps`), never reported: a warning on every check after every forget taught
 * users to ignore warnings. The one deletion that matters, the newest head, is caught when the
 * client unlocks the repository (the pin: exit 14). A `previous` that is present but does not
 * have a lower sequence number cannot come from any writer and is an error. So is every other
 * snapshot the chain leaves out (repo/snapshot.ts, assessChain: a sequence number out of range
 * or jumping further than any run of backups could, such as 2^53-1): it authenticates, so
 * someone holding the keys wrote it outside the chain; every command passes it by with a
 * warning, and check names it, with the reason, as forged data.
 *
 * Records anyone who can write to the store can add (no key needed) are reported as errors, by
 * name, so that `repair` can be run: snapshot blobs that do not authenticate under this
 * repository's keys (every other command skips them with a warning) and key slots that are not
 * key slots at all (malformed, or out-of-bounds KDF parameters). A slot that parses but that
 * this passphrase does not open is someone else's and is not damage.
 *
 * The engine never prints: problems and progress go to the injected sink.
 *
 * Length: over 400 lines with one job, the check; its three parts (structure, data, records)
 * share one walk's visited sets and one list of problems, which splitting would have to pass
 * around. The chain and record checks are the first to move out if it grows.
 */
import { createHash } from "node:crypto";
import { isBlindsyncError } from "../errors.js";
import {
  assessChain,
  undecodableWhy,
  type Repository,
  type Snapshot,
  type Tree,
  type FileEntry,
} from "../repo/index.js";
import type { BlobId, BlobKind } from "../store/index.js";
import {
  checkStoreObjects,
  type StorageProblemKind,
  type StorageReport,
} from "./check-storage.js";
import { toHex } from "../util/bytes.js";
import { BlobContentCheck, checksumName } from "./content-check.js";
import { DirectoryReadHints } from "./read-hints.js";

/** How many ids one `store.missing()` call asks about. */
export const PRESENCE_BATCH = 1000;
/** Paths (and snapshots) listed per problem; the rest are counted. */
export const MAX_LISTED = 20;
/** Data blobs of one file fetched ahead while the previous one is hashed. */
const READ_AHEAD = 4;
/** Characters of a hex id shown in messages. */
const SHORT = 8;

/**
 * Which data blobs to read: none (structure only), all, a deterministic fraction of them, or
 * part `part` of `of` (restic's n/t: running parts 1..t reads every blob exactly once).
 */
export type ReadDataSelection =
  | "none"
  | "all"
  | { readonly fraction: number }
  | { readonly part: number; readonly of: number };

export type CheckProblemKind =
  | "missing-blob"
  | "damaged-blob"
  | "damaged-tree"
  | "file-hash-mismatch"
  | "head-chain-broken"
  | "suspicious-snapshot"
  | "undecodable-snapshot"
  | "unreadable-key-slot"
  | StorageProblemKind;

export interface CheckProblem {
  readonly kind: CheckProblemKind;
  /** Errors make `check` fail; warnings are reported only. */
  readonly severity: "error" | "warning";
  /**
   * What is wrong: the full hex id of the blob (data, tree, or an undecodable snapshot blob),
   * of the snapshot for a broken link, or of the recorded checksum for a file hash mismatch;
   * the slot's name for an unreadable key slot; the object's name on storage ("packs/3f/3f…",
   * "index/…") for a pack or index segment.
   */
  readonly id: string;
  /** For blob problems: the kind of blob that is missing or damaged. */
  readonly blobKind?: BlobKind;
  /** One line: what went wrong. */
  readonly reason: string;
  /**
   * Affected paths relative to the snapshot root, as bytes (the empty path is the root), at
   * most MAX_LISTED of them; `morePaths` counts the others.
   */
  readonly paths: readonly Uint8Array[];
  readonly morePaths: number;
  /** Short ids of the affected snapshots, at most MAX_LISTED; `moreSnapshots` counts the others. */
  readonly snapshots: readonly string[];
  readonly moreSnapshots: number;
}

export interface CheckProgress {
  /** "checking" while walking and reading, "naming" while attributing problems to paths. */
  readonly phase: "checking" | "naming";
  readonly trees: number;
  readonly dataBlobs: number;
  readonly blobsRead: number;
  readonly bytesRead: number;
  readonly filesVerified: number;
  /** Whole packs read and re-hashed (pack repositories, with a data selection). */
  readonly packsRead: number;
  readonly problems: number;
}

export interface CheckSink {
  progress(progress: CheckProgress): void;
  /** Called once per problem, after its affected paths and snapshots are known. */
  problem(problem: CheckProblem): void;
}

export interface CheckOptions {
  readonly repo: Repository;
  /** Every snapshot of the repository (the head chain is checked among them). */
  readonly snapshots: readonly Snapshot[];
  readonly readData: ReadDataSelection;
  readonly sink: CheckSink;
}

export interface CheckReport {
  readonly snapshots: number;
  /** Distinct trees loaded. */
  readonly trees: number;
  /** Distinct data blobs referenced (each one's presence was checked). */
  readonly dataBlobs: number;
  /** Data blob reads (a blob shared by two different files is read for each). */
  readonly blobsRead: number;
  /** Plaintext bytes read. */
  readonly bytesRead: number;
  /** Distinct file contents whose whole-file checksum was verified. */
  readonly filesVerified: number;
  readonly problems: readonly CheckProblem[];
  readonly errors: number;
  readonly warnings: number;
  /**
   * Snapshots whose `previous` is no longer in the repository: what `forget` leaves behind
   * (and what a server deleting one would leave; the two cannot be told apart). Not a problem.
   */
  readonly chainGaps: number;
  /** What the store found on its own objects; only for stores that keep them (packs). */
  readonly storage?: StorageReport;
}

/** Throws RangeError for a selection that is out of range. */
export function checkSelection(selection: ReadDataSelection): void {
  if (selection === "none" || selection === "all") return;
  if ("fraction" in selection) {
    const { fraction } = selection;
    if (!(fraction > 0 && fraction <= 1))
      throw new RangeError(`The fraction must be in (0, 1], not ${fraction}`);
    return;
  }
  const { part, of } = selection;
  if (!Number.isSafeInteger(of) || of < 1 || of > 0xffffffff)
    throw new RangeError(`The number of parts must be at least 1, not ${of}`);
  if (!Number.isSafeInteger(part) || part < 1 || part > of)
    throw new RangeError(`The part must be between 1 and ${of}, not ${part}`);
}

/** The first 4 bytes of an id as an unsigned 32-bit integer: uniform, since ids are HMACs. */
function idPrefix(id: BlobId): number {
  return (
    (((id[0] ?? 0) << 24) |
      ((id[1] ?? 0) << 16) |
      ((id[2] ?? 0) << 8) |
      (id[3] ?? 0)) >>>
    0
  );
}

/** Whether `selection` reads the data blob `id`; deterministic, so runs can be repeated. */
export function selectsBlob(selection: ReadDataSelection, id: BlobId): boolean {
  if (selection === "none") return false;
  if (selection === "all") return true;
  const prefix = idPrefix(id);
  if ("fraction" in selection)
    return selection.fraction >= 1 || prefix < selection.fraction * 2 ** 32;
  return prefix % selection.of === selection.part - 1;
}

const ASKED = 1;
const READ = 2;

class Found {
  readonly paths = new Set<string>();
  readonly listed: Uint8Array[] = [];
  readonly snapshots = new Set<string>();

  constructor(
    readonly kind: CheckProblemKind,
    readonly severity: "error" | "warning",
    readonly id: string,
    readonly reason: string,
    readonly blobKind?: BlobKind,
  ) {}

  addPath(path: Buffer): void {
    // Every distinct affected path is kept to count them exactly; problems are rare and the
    // set holds only the paths of damaged content.
    const key = path.toString("latin1");
    if (this.paths.has(key)) return;
    this.paths.add(key);
    if (this.listed.length < MAX_LISTED) this.listed.push(path);
  }

  toProblem(): CheckProblem {
    const snapshots = [...this.snapshots];
    return {
      kind: this.kind,
      severity: this.severity,
      id: this.id,
      ...(this.blobKind === undefined ? {} : { blobKind: this.blobKind }),
      reason: this.reason,
      paths: this.listed,
      morePaths: this.paths.size - this.listed.length,
      snapshots: snapshots.slice(0, MAX_LISTED),
      moreSnapshots: Math.max(0, snapshots.length - MAX_LISTED),
    };
  }
}

function shortId(id: BlobId | string): string {
  return (typeof id === "string" ? id : toHex(id)).slice(0, SHORT);
}

function joinPath(prefix: Buffer, name: Uint8Array): Buffer {
  return prefix.length === 0
    ? Buffer.from(name)
    : Buffer.concat([prefix, Buffer.from("/"), name]);
}

/**
 * Identifies a file's content as its tree records it: the claimed checksum (kind and digest),
 * size and blob list, or an inline file's bytes. A derived checksum (tree format 5) adds
 * nothing to those, so it is named, not computed.
 */
function fileKey(entry: FileEntry): string {
  const hash = createHash("sha256").update(entry.checksum.kind);
  if (entry.checksum.derived === true) hash.update("derived");
  else hash.update("stored").update(entry.checksum.digest);
  hash.update(String(entry.size));
  for (const id of entry.content) hash.update(id);
  if (entry.inline !== undefined) hash.update("inline").update(entry.inline);
  return hash.digest("hex");
}

type LoadResult =
  | { readonly ok: true; readonly plaintext: Uint8Array }
  | { readonly ok: false; readonly error: unknown };

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class Checker {
  private readonly repo: Repository;
  private readonly snapshots: readonly Snapshot[];
  private readonly selection: ReadDataSelection;
  private readonly sink: CheckSink;

  private readonly visitedTrees = new Set<string>();
  /** Per data blob (hex id): ASKED once its presence was queued, READ once it was fetched. */
  private readonly dataBlobs = new Map<string, number>();
  private readonly verifiedFiles = new Set<string>();
  private pending: BlobId[] = [];

  /** Missing or damaged blobs (data and tree), by hex id. */
  private readonly badBlobs = new Map<string, Found>();
  /** Files whose content does not match the recorded checksum, by fileKey(). */
  private readonly badFiles = new Map<string, Found>();
  private readonly chainProblems: Found[] = [];
  /** Undecodable snapshot blobs and unreadable key slots. */
  private readonly recordProblems: Found[] = [];
  private chainGaps = 0;

  private trees = 0;
  private blobsRead = 0;
  private bytesRead = 0;
  private filesVerified = 0;
  private packsRead = 0;
  private storage: StorageReport | undefined;
  /** Damaged or refused packs and index segments. */
  private readonly storageProblems: Found[] = [];
  private phase: CheckProgress["phase"] = "checking";

  constructor(options: CheckOptions) {
    checkSelection(options.readData);
    this.repo = options.repo;
    this.snapshots = options.snapshots;
    this.selection = options.readData;
    this.sink = options.sink;
  }

  async run(): Promise<CheckReport> {
    await this.checkRecords();
    await this.checkStorage();
    this.checkHeadChain();
    for (const snapshot of this.snapshots) await this.visitTree(snapshot.tree);
    await this.flushPresence();
    if (this.badBlobs.size > 0 || this.badFiles.size > 0)
      await this.attribute();
    const problems = [
      ...this.badBlobs.values(),
      ...this.badFiles.values(),
      ...this.chainProblems,
      ...this.recordProblems,
      ...this.storageProblems,
    ].map((found) => found.toProblem());
    for (const problem of problems) this.sink.problem(problem);
    const warnings = problems.filter((p) => p.severity === "warning").length;
    return {
      snapshots: this.snapshots.length,
      trees: this.trees,
      dataBlobs: this.dataBlobs.size,
      blobsRead: this.blobsRead,
      bytesRead: this.bytesRead,
      filesVerified: this.filesVerified,
      problems,
      errors: problems.length - warnings,
      warnings,
      chainGaps: this.chainGaps,
      ...(this.storage === undefined ? {} : { storage: this.storage }),
    };
  }

  private report(): void {
    this.sink.progress({
      phase: this.phase,
      trees: this.trees,
      dataBlobs: this.dataBlobs.size,
      blobsRead: this.blobsRead,
      bytesRead: this.bytesRead,
      filesVerified: this.filesVerified,
      packsRead: this.packsRead,
      problems:
        this.badBlobs.size +
        this.badFiles.size +
        this.chainProblems.length +
        this.recordProblems.length +
        this.storageProblems.length,
    });
  }

  private checkHeadChain(): void {
    const byId = new Map(this.snapshots.map((s) => [toHex(s.id), s]));
    for (const snapshot of this.snapshots) {
      if (snapshot.previous === null) continue;
      const previousHex = toHex(snapshot.previous);
      const previous = byId.get(previousHex);
      if (previous === undefined) {
        this.chainGaps += 1;
      } else if (previous.seq >= snapshot.seq) {
        const found = new Found(
          "head-chain-broken",
          "error",
          toHex(snapshot.id),
          `snapshot ${shortId(snapshot.id)} (seq ${snapshot.seq}) follows snapshot ` +
            `${shortId(previous.id)} whose seq ${previous.seq} is not lower`,
        );
        found.snapshots.add(shortId(snapshot.id));
        this.chainProblems.push(found);
      }
    }
    const named = new Set(this.chainProblems.map((found) => found.id));
    for (const { snapshot, reason } of assessChain(this.snapshots).suspicious) {
      const hex = toHex(snapshot.id);
      if (named.has(hex)) continue;
      const found = new Found(
        "suspicious-snapshot",
        "error",
        hex,
        `snapshot ${shortId(hex)} (host "${snapshot.host}", time ${snapshot.time}) is left out of the head chain: ` +
          `${reason}. It authenticates, so someone holding the keys wrote it; it is never "latest" and no backup follows it`,
      );
      found.snapshots.add(shortId(hex));
      this.chainProblems.push(found);
    }
  }

  /** Finds the records a connection without the keys could have added (see the top). */
  private async checkRecords(): Promise<void> {
    const { undecodable } = await this.repo.readSnapshots();
    for (const blob of undecodable) {
      this.recordProblems.push(
        new Found(
          "undecodable-snapshot",
          "error",
          toHex(blob.id),
          `snapshot blob ${toHex(blob.id)}: ${undecodableWhy(blob)}; every command skips it. ` +
            "Remove it with: blindsync repair REPO",
          "snapshot",
        ),
      );
    }
    for (const slot of await this.repo.unreadableKeySlots()) {
      this.recordProblems.push(
        new Found(
          "unreadable-key-slot",
          "error",
          slot.name,
          `key slot ${slot.name} is not a usable key slot (${slot.reason}); no passphrase can open it. ` +
            "Remove it with: blindsync repair REPO",
        ),
      );
    }
    this.report();
  }

  /**
   * The store's own objects, where it keeps any (a pack repository): the segments and packs its
   * index refused, and, for the packs the data selection picks (by the pack's name, so that
   * `--read-data-subset 1/t ... t/t` covers every pack once too), each read whole and checked
   * against its name, its MACed trailer and the index. Blob reads below cannot find a damaged
   * trailer: every blob still opens, yet the next client cannot index or repack that pack.
   */
  private async checkStorage(): Promise<void> {
    const selection = this.selection;
    const found = await checkStoreObjects(
      this.repo.store,
      selection === "none"
        ? undefined
        : (id: BlobId) => selectsBlob(selection, id),
      (packsRead) => {
        this.packsRead = packsRead;
        this.report();
      },
    );
    if (found === undefined) return;
    this.storage = found.report;
    for (const problem of found.problems)
      this.storageProblems.push(
        new Found(problem.kind, "error", problem.id, problem.reason),
      );
    this.report();
  }

  /** Records a blob that failed to load; rethrows anything that is not about the blob itself. */
  private blobFailed(id: BlobId, kind: BlobKind, error: unknown): void {
    const hex = toHex(id);
    if (this.badBlobs.has(hex)) return;
    let found: Found;
    if (isBlindsyncError(error, "not-found")) {
      found = new Found("missing-blob", "error", hex, "not in the store", kind);
    } else if (isBlindsyncError(error, "integrity")) {
      found = new Found(
        kind === "tree" ? "damaged-tree" : "damaged-blob",
        "error",
        hex,
        describe(error).replace(/^Blob "[0-9a-f]+" /, ""),
        kind,
      );
    } else {
      throw error;
    }
    this.badBlobs.set(hex, found);
  }

  private async visitTree(id: BlobId): Promise<void> {
    const hex = toHex(id);
    if (this.visitedTrees.has(hex)) return;
    this.visitedTrees.add(hex);
    let tree: Tree;
    try {
      tree = await this.repo.loadTree(id);
    } catch (error) {
      this.blobFailed(id, "tree", error);
      return;
    }
    this.trees++;
    this.report();
    const hints =
      this.selection === "none"
        ? undefined
        : new DirectoryReadHints(this.repo, tree.entries, (blob) =>
            selectsBlob(this.selection, blob),
          );
    for (const entry of tree.entries) {
      hints?.before(entry);
      if (entry.type === "file") await this.visitFile(entry);
      else if (entry.type === "dir") await this.visitTree(entry.subtree);
    }
  }

  private async visitFile(entry: FileEntry): Promise<void> {
    for (const id of entry.content) {
      const hex = toHex(id);
      const state = this.dataBlobs.get(hex) ?? 0;
      if ((state & ASKED) !== 0) continue;
      this.dataBlobs.set(hex, state | ASKED);
      this.pending.push(id);
      if (this.pending.length >= PRESENCE_BATCH) await this.flushPresence();
    }
    if (this.selection === "none") return;
    // An inline file (tree format 4) has no blob to select: its bytes came with its tree and
    // cost two keyed hashes to check, so every read of data checks them all.
    if (entry.content.every((id) => selectsBlob(this.selection, id))) {
      const key = fileKey(entry);
      if (this.verifiedFiles.has(key)) return;
      this.verifiedFiles.add(key);
      await this.verifyFile(entry, key);
      return;
    }
    for (const id of entry.content) {
      if (!selectsBlob(this.selection, id)) continue;
      const hex = toHex(id);
      const state = this.dataBlobs.get(hex) ?? 0;
      if ((state & READ) !== 0 || this.badBlobs.has(hex)) continue;
      this.dataBlobs.set(hex, state | READ);
      const result = await this.load(id);
      if (!result.ok) this.blobFailed(id, "data", result.error);
      this.report();
    }
  }

  private async flushPresence(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    for (const id of await this.repo.store.missing(batch)) {
      const hex = toHex(id);
      if (this.badBlobs.has(hex)) continue;
      this.badBlobs.set(
        hex,
        new Found("missing-blob", "error", hex, "not in the store", "data"),
      );
    }
    this.report();
  }

  private async load(id: BlobId): Promise<LoadResult> {
    try {
      const plaintext = await this.repo.load("data", id);
      this.blobsRead++;
      this.bytesRead += plaintext.length;
      return { ok: true, plaintext };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /**
   * Reads a file's blobs in order, a few ahead, hashing as they arrive, and compares the result
   * with the recorded checksum and size (each blob's id re-checked as it opens, which a
   * checksum over chunk ids relies on). A blob already read for another file is read again: the
   * hash needs its bytes, and keeping plaintext around would cost memory for a rare case.
   */
  private async verifyFile(entry: FileEntry, key: string): Promise<void> {
    const check = new BlobContentCheck(this.repo, entry, { idsChecked: true });
    let size = 0;
    if (entry.inline !== undefined) {
      check.add(entry.inline);
      size = entry.inline.length;
    }
    let complete = true;
    const ids = entry.content;
    const inFlight: (Promise<LoadResult> | undefined)[] = [];
    const start = (index: number): void => {
      const id = ids[index];
      if (id === undefined || this.badBlobs.has(toHex(id))) return;
      inFlight[index] = this.load(id);
    };
    for (let index = 0; index < Math.min(READ_AHEAD, ids.length); index++)
      start(index);
    for (let index = 0; index < ids.length; index++) {
      start(index + READ_AHEAD);
      const id = ids[index] as BlobId;
      const hex = toHex(id);
      this.dataBlobs.set(hex, (this.dataBlobs.get(hex) ?? 0) | READ);
      const pending = inFlight[index];
      inFlight[index] = undefined;
      if (pending === undefined) {
        complete = false;
        continue;
      }
      const result = await pending;
      if (result.ok) {
        check.add(result.plaintext);
        size += result.plaintext.length;
      } else {
        complete = false;
        this.blobFailed(id, "data", result.error);
      }
      this.report();
    }
    if (!complete) return;
    if (check.matches()) {
      this.filesVerified++;
      return;
    }
    const recorded = toHex(entry.checksum.digest);
    this.badFiles.set(
      key,
      new Found(
        "file-hash-mismatch",
        "error",
        recorded,
        size === entry.size
          ? `the content does not match its recorded ${checksumName(entry.checksum)} ${shortId(recorded)}`
          : `the content is ${size} bytes, its tree records ${entry.size}`,
      ),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Attribution: which paths in which snapshots reach each problem.

  /** Per tree (hex): whether it reaches a bad blob or file. Loads each distinct tree once. */
  private readonly reachesBad = new Map<string, boolean>();

  private async attribute(): Promise<void> {
    this.phase = "naming";
    for (const snapshot of this.snapshots) {
      await this.collect(snapshot.tree, Buffer.alloc(0), shortId(snapshot.id));
    }
  }

  private fileIsBad(entry: FileEntry): boolean {
    if (entry.content.some((id) => this.badBlobs.has(toHex(id)))) return true;
    return this.badFiles.size > 0 && this.badFiles.has(fileKey(entry));
  }

  private async reaches(id: BlobId): Promise<boolean> {
    const hex = toHex(id);
    if (this.badBlobs.has(hex)) return true;
    const known = this.reachesBad.get(hex);
    if (known !== undefined) return known;
    const tree = await this.repo.loadTree(id);
    let result = false;
    for (const entry of tree.entries) {
      if (entry.type === "file" && this.fileIsBad(entry)) result = true;
      else if (entry.type === "dir" && (await this.reaches(entry.subtree)))
        result = true;
    }
    this.reachesBad.set(hex, result);
    this.report();
    return result;
  }

  private async collect(
    id: BlobId,
    path: Buffer,
    snapshot: string,
  ): Promise<void> {
    const bad = this.badBlobs.get(toHex(id));
    if (bad !== undefined) {
      bad.addPath(path);
      bad.snapshots.add(snapshot);
      return;
    }
    if (!(await this.reaches(id))) return;
    const tree = await this.repo.loadTree(id);
    for (const entry of tree.entries) {
      const child = joinPath(path, entry.name);
      if (entry.type === "dir") {
        await this.collect(entry.subtree, child, snapshot);
      } else if (entry.type === "file") {
        for (const blob of entry.content) {
          const found = this.badBlobs.get(toHex(blob));
          if (found === undefined) continue;
          found.addPath(child);
          found.snapshots.add(snapshot);
        }
        if (this.badFiles.size === 0) continue;
        const found = this.badFiles.get(fileKey(entry));
        if (found === undefined) continue;
        found.addPath(child);
        found.snapshots.add(snapshot);
      }
    }
  }
}

/** Checks a repository's structure and, if asked, its data; see the top of this file. */
export async function checkRepository(
  options: CheckOptions,
): Promise<CheckReport> {
  return new Checker(options).run();
}
