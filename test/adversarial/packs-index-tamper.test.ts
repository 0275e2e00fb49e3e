/**
 * The index of a pack directory in the hands of storage (issue 19): a flipped byte in a
 * segment, a deleted segment, an entry edited to point at another blob's bytes (crafted without
 * the key, as storage must), a segment planted to claim a deleted pack's blobs, and the index/
 * folder put back as it was before a prune. None may make a client believe a blob is stored
 * when it is not: a refused or missing segment makes its blobs missing from the index, and a
 * client that reads one (restore, check) indexes the packs no segment names from their
 * authenticated trailers, as a backup's resume does, and writes their segment again; what no
 * authentic trailer holds stays missing, and the next backup stores it again, so the new
 * snapshot restores exactly and `check --read-data` finds no blob missing or damaged. A client
 * that read a segment before it was damaged keeps what it authenticated. check names every
 * segment the index refused, for as long as storage keeps it (13), and a prune removes it.
 */
import {
  cpSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCleanError, jsonProblems, runCli } from "../helpers/cli.js";
import {
  flipByte,
  packPath,
  packsOf,
  segmentsOf,
  type SegmentFile,
} from "../helpers/pack-files.js";
import {
  newPackRound,
  pristinePacks,
  type PackRound,
  type PristinePacks,
} from "../helpers/pack-pristine.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

let work: string;
let pristine: PristinePacks;

beforeAll(async () => {
  work = await tempDir("blindsync-packs-index-");
  pristine = await pristinePacks(work);
});

afterAll(async () => {
  await removeDir(work);
});

function segment(index: number): SegmentFile {
  const found = pristine.segments[index];
  if (found === undefined) throw new Error(`no segment ${index}`);
  return found;
}

/** Writes `bytes` into index/ under the name storage would give it: its SHA-256. */
function plantSegment(repo: string, bytes: Buffer): string {
  const id = createHash("sha256").update(bytes).digest("hex");
  writeFileSync(join(repo, "index", id), bytes);
  return id;
}

/**
 * The kinds of problem `check --read-data` names, each once, sorted ([] when it exits 0). A
 * refused index makes blobs missing, never wrong data: no blob is ever damaged here.
 */
async function checkKinds(
  round: PackRound,
  cacheDir: string,
): Promise<string[]> {
  const check = await round.cli(
    ["--json", "check", "--read-data", round.repo],
    cacheDir,
  );
  const kinds = [
    ...new Set(jsonProblems(check.stdout).map((problem) => problem.kind)),
  ].sort();
  expect(check.code, check.stderr).toBe(kinds.length === 0 ? 0 : 13);
  if (check.code !== 0)
    expect(isCleanError(check.stderr), check.stderr).toBe(true);
  return kinds;
}

const REFUSED = () => ["refused-index-segment"];

/**
 * The repair a backup makes: it exits 0, its snapshot restores exactly, and afterwards
 * `check --read-data` of every snapshot finds no blob missing or damaged for this client and
 * for a new one: only `left()` (a refused segment storage still keeps).
 */
async function expectBackupHeals(
  round: PackRound,
  cacheDir: string,
  left: () => readonly string[] = () => [],
): Promise<void> {
  const backup = await round.cli(
    ["backup", pristine.source, round.repo],
    cacheDir,
  );
  expect(backup.code, backup.stderr).toBe(0);
  const target = join(round.dir, `latest-${readdirSync(round.dir).length}`);
  const restore = await round.cli(["restore", round.repo, target], cacheDir);
  expect(restore.code, restore.stderr).toBe(0);
  expect(
    treeDifferences(pristine.sourceTree, describeTree(target)),
  ).toStrictEqual([]);
  expect(await checkKinds(round, cacheDir)).toStrictEqual(left());
  expect(await checkKinds(round, join(round.dir, "after-cache"))).toStrictEqual(
    left(),
  );
}

describe("a damaged or forged index of a pack directory", () => {
  it("a flipped byte in a segment: scrub names it, a client that read it keeps working and check --read-data names it damaged, a new client refuses it (13) and reads its packs through their trailers, and a backup restores the index from them without uploading again", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    const victim = segment(1);
    flipByte(join(round.repo, "index", victim.id), 60);
    const scrub = await runCli(["scrub", round.repo], {
      cacheDir: join(round.dir, "scrub-cache"),
      env: { BLINDSYNC_PASSWORD: undefined },
    });
    expect(scrub.code, scrub.stderr).toBe(13);
    expect(scrub.stdout).toContain(`damaged object index/${victim.id}`);
    // Re-read with --read-data, the segment this client applied no longer hashes to its name.
    expect(await checkKinds(round, round.cacheDir)).toStrictEqual([
      "damaged-index-segment",
    ]);
    const fresh = join(round.dir, "fresh-cache");
    // Nothing is missing: the packs the refused segment named are read through their trailers.
    expect(await checkKinds(round, fresh)).toStrictEqual(REFUSED());
    const packsBefore = packsOf(round.repo).length;
    // The segment the resume writes lists the same packs, in pack order: when that is the
    // order of the original, it is the same object and replaces the damaged one.
    const path = join(round.repo, "index", victim.id);
    const replaced = () =>
      createHash("sha256").update(readFileSync(path)).digest("hex") ===
      victim.id;
    await expectBackupHeals(round, fresh, () => (replaced() ? [] : REFUSED()));
    // Only the new snapshot's root tree was uploaded: one pack more.
    expect(packsOf(round.repo).length).toBeLessThanOrEqual(packsBefore + 1);
  });

  it("a deleted segment: a new client reads its packs through their trailers and writes their segment again, so nothing is missing (0), and a backup uploads no data", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    rmSync(join(round.repo, "index", segment(0).id));
    expect(segmentsOf(round.repo)).toHaveLength(pristine.segments.length - 1);
    // The case that matters most: a new machine restoring after storage lost a segment.
    const target = join(round.dir, "restored-fresh");
    const restore = await round.cli(
      ["restore", round.repo, target],
      join(round.dir, "restore-cache"),
    );
    expect(restore.code, restore.stderr).toBe(0);
    expect(
      treeDifferences(pristine.sourceTree, describeTree(target)),
    ).toStrictEqual([]);
    expect(segmentsOf(round.repo)).toHaveLength(pristine.segments.length);
    // Lost once more (the one the restore wrote), for check to find.
    const kept = new Set(pristine.segments.map((one) => one.id));
    for (const written of segmentsOf(round.repo))
      if (!kept.has(written.id) || written.id === segment(0).id)
        rmSync(join(round.repo, "index", written.id));
    expect(segmentsOf(round.repo)).toHaveLength(pristine.segments.length - 1);
    const fresh = join(round.dir, "fresh-cache");
    const check = await round.cli(["check", "--read-data", round.repo], fresh);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(
      /packs? no index segment named \(an interrupted backup, or a segment storage lost\), read through their trailers/,
    );
    expect(segmentsOf(round.repo)).toHaveLength(pristine.segments.length);
    // The client that had read it forgot it (storage stopped listing it), then sees the new one.
    expect(await checkKinds(round, round.cacheDir)).toStrictEqual([]);
    await expectBackupHeals(round, fresh);
    expect(
      packsOf(round.repo).filter((pack) => pack.kind === "data"),
    ).toHaveLength(3);
  });

  it("an entry edited, without the key, to point at another blob's bytes is refused with its whole segment by the MAC, the blobs are stored again, and check names the forged segment until a prune removes it", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    const victim = segment(2);
    const [first, second] = victim.entries;
    if (first === undefined || second === undefined)
      throw new Error("few entries");
    const bytes = readFileSync(join(round.repo, "index", victim.id));
    // Entry layout: blob id (32) | pack u32 | offset u64 | length u32.
    bytes.writeBigUInt64BE(BigInt(second.offset), first.at + 36);
    bytes.writeUInt32BE(second.length, first.at + 44);
    rmSync(join(round.repo, "index", victim.id));
    const forged = plantSegment(round.repo, bytes);
    expect(segmentsOf(round.repo).map((s) => s.id)).toContain(forged);
    // Refused whole: its packs are read through their trailers, so nothing is missing.
    expect(await checkKinds(round, round.cacheDir)).toStrictEqual(REFUSED());
    expect(
      await checkKinds(round, join(round.dir, "fresh-cache")),
    ).toStrictEqual(REFUSED());
    await expectBackupHeals(round, round.cacheDir, REFUSED);
    // A prune that deletes something (the oldest snapshot) deletes the refused segment too.
    const prune = await round.cli([
      "forget",
      round.repo,
      "--keep-last",
      "2",
      "--prune",
    ]);
    expect(prune.code, prune.stderr).toBe(0);
    expect(segmentsOf(round.repo).map((s) => s.id)).not.toContain(forged);
    expect(await checkKinds(round, round.cacheDir)).toStrictEqual([]);
  });

  it("a deleted pack whose blobs a planted segment claims live in another pack is not believed: the next backup uploads them again", async () => {
    const round = newPackRound(work, pristine);
    const lost = pristine.dataPacks[1];
    const other = pristine.dataPacks[0];
    if (lost === undefined || other === undefined) throw new Error("no packs");
    const victim = segment(1);
    const bytes = readFileSync(join(round.repo, "index", victim.id));
    // Pack table entry 0 of the segment: pack id (32) | kind | region. Point it at the other pack.
    const at = 24 + 41 * victim.packs.indexOf(lost.id);
    Buffer.from(other.id, "hex").copy(bytes, at);
    rmSync(packPath(round.repo, lost.id));
    rmSync(join(round.repo, "index", victim.id));
    plantSegment(round.repo, bytes);
    const fresh = join(round.dir, "fresh-cache");
    await expectBackupHeals(round, fresh, REFUSED);
    expect(
      packsOf(round.repo).filter((pack) => pack.kind === "data"),
    ).toHaveLength(3);
  });

  it("index/ put back as it was before a prune: a client that never saw the prune believes segments naming deleted packs, yet its next backup loses nothing (the live packs are indexed from their trailers and read)", async () => {
    const round = newPackRound(work, pristine);
    const oldIndex = join(round.dir, "old-index");
    cpSync(join(round.repo, "index"), oldIndex, { recursive: true });
    const prune = await round.cli([
      "forget",
      round.repo,
      "--keep-last",
      "2",
      "--prune",
    ]);
    expect(prune.code, prune.stderr).toBe(0);
    // The prune repacked the small packs and superseded every old segment.
    for (const pack of pristine.dataPacks)
      expect(packsOf(round.repo).map((p) => p.id)).not.toContain(pack.id);
    rmSync(join(round.repo, "index"), { recursive: true });
    cpSync(oldIndex, join(round.repo, "index"), { recursive: true });
    const fresh = join(round.dir, "fresh-cache");
    // The old segments name packs that are gone, never wrong data; the live packs they do not
    // name are read through their trailers, so nothing is missing.
    expect(await checkKinds(round, fresh)).toStrictEqual([]);
    // The client that pruned refuses the superseded segments it knows, and reads the same.
    expect(await checkKinds(round, round.cacheDir)).toStrictEqual([]);
    await expectBackupHeals(round, fresh);
  });
});
