/**
 * Small files kept inside their directory's tree (tree format 4): a backup stores no data blob
 * for a file of at most INLINE_FILE_MAX bytes, and every reader (restore with --verify, cat,
 * check --read-data) takes its bytes from the tree, checked against the checksum it would have
 * as one blob. A later backup re-reads the small files of a directory it walks again, so a
 * changed one comes back new while the older snapshot keeps the old bytes; and a crafted
 * format-4 tree whose inline bytes do not match its stored checksum is refused, not restored
 * (format 5 derives the checksum from those bytes: no tree can disagree). A directory carries
 * at most INLINE_DIR_MAX bytes inline; its further small files are data blobs, even those an
 * earlier run put inline.
 *
 * In process (run* functions), one repository for the file: a few dozen small files.
 */
import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runCat } from "../../src/cli/commands/browse.js";
import { runCheck } from "../../src/cli/commands/check.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runRestore } from "../../src/cli/commands/restore.js";
import {
  INLINE_DIR_MAX,
  INLINE_FILE_MAX,
} from "../../src/engine/backup/index.js";
import {
  encodeTree,
  TREE_FORMAT_V4,
  type TreeEntry,
} from "../../src/repo/index.js";
import { toHex } from "../../src/util/bytes.js";
import {
  testContext,
  writeFiles,
  type TestContext,
} from "../helpers/command-context.js";
import { KIND } from "../helpers/constants.js";
import { saveCraftedSnapshot } from "../helpers/craft.js";
import { blobRows } from "../helpers/database.js";
import { seededBytes } from "../helpers/prng.js";
import { withRepository } from "../helpers/repositories.js";
import { describeTree, treeDifferences } from "../helpers/trees.js";

let context: TestContext;
let dir: string;
let cleanup = (): void => undefined;
let repository: string;
let source: string;
let first: string;

/** Files of one directory, sizes 1 byte to the inline limit. */
const SMALL_SIZES = [1, 2, 17, 100, 511, 700, 1000, INLINE_FILE_MAX - 1];

function smallName(index: number): string {
  return `small/f${index}`;
}

beforeAll(async () => {
  const made = testContext();
  ({ context, dir, cleanup } = made);
  repository = join(dir, "repo");
  source = join(dir, "source");
  writeFiles(source, { "edge/empty": "", "small/.keep": "" });
  for (const [index, size] of SMALL_SIZES.entries())
    writeFileSync(join(source, smallName(index)), seededBytes(index, size));
  // The limit itself is inline; one byte more, and a larger file, are data blobs.
  writeFileSync(join(source, "edge/limit"), seededBytes(50, INLINE_FILE_MAX));
  writeFileSync(
    join(source, "edge/over"),
    seededBytes(51, INLINE_FILE_MAX + 1),
  );
  writeFileSync(join(source, "big.bin"), seededBytes(52, 200 * 1024));
  await runInit(context.with(), { repository });
  const { snapshot } = await runBackup(context.with(), {
    repository,
    sources: [source],
  });
  first = toHex(snapshot!.id);
});

afterAll(() => {
  cleanup();
});

describe("files of at most INLINE_FILE_MAX bytes, inline in their trees", () => {
  it("a backup stores no data blob for them; restore --verify, cat and check --read-data read them from the tree", async () => {
    // The file one byte over the limit and the large one: nothing of the small files.
    expect(blobRows(repository, KIND.data)).toHaveLength(2);

    const target = join(dir, "restored");
    const restored = await runRestore(context.with(), {
      repository,
      target,
      verify: true,
    });
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );
    // The small files, small/.keep and edge/empty, the limit, the one over it, big.bin.
    const files = SMALL_SIZES.length + 5;
    expect(restored.verified).toBe(files);

    const cat = context.with();
    await runCat(cat, { repository, path: smallName(4) });
    expect(Buffer.concat(cat.stdout.chunks)).toEqual(
      Buffer.from(seededBytes(4, SMALL_SIZES[4]!)),
    );

    const check = context.with({ json: true });
    await runCheck(check, { repository, readData: true });
    // Each distinct content once: the two empty files are one.
    expect(check.json().at(-1)).toMatchObject({
      blobsRead: 2,
      filesVerified: files - 1,
      errors: 0,
    });
  });

  it("a later backup stores a changed small file's new bytes in a new tree; the older snapshot keeps the old ones", async () => {
    const changed = join(source, smallName(2));
    writeFileSync(changed, "new bytes\n");
    utimesSync(changed, 1_700_000_000, 1_700_000_000);
    const second = await runBackup(context.with(), {
      repository,
      sources: [source],
    });
    // Its neighbours were read again (their bytes are the tree's) yet count as unchanged.
    expect(second).toMatchObject({ filesNew: 0, filesChanged: 1 });
    // Two trees (the directory and the root); still no data blob for a small file.
    expect(second.blobsAdded).toBe(2);
    expect(blobRows(repository, KIND.data)).toHaveLength(2);

    const latest = join(dir, "latest");
    await runRestore(context.with(), { repository, target: latest });
    expect(treeDifferences(describeTree(source), describeTree(latest))).toEqual(
      [],
    );
    const older = join(dir, "older");
    await runRestore(context.with(), {
      repository,
      target: older,
      snapshot: first,
    });
    expect(readFileSync(join(older, smallName(2)))).toEqual(
      Buffer.from(seededBytes(2, SMALL_SIZES[2]!)),
    );
    expect(readFileSync(join(latest, smallName(2)), "utf8")).toBe(
      "new bytes\n",
    );
  });

  it("a format-4 tree whose inline bytes do not match their stored checksum is refused by restore, cat and check --read-data", async () => {
    await withRepository(repository, async (repo) => {
      const bytes = Buffer.from("what the backup read\n");
      const forged = Buffer.from("what an attacker put\n");
      const entry: TreeEntry = {
        name: Buffer.from("forged.txt"),
        type: "file",
        mode: 0o644,
        mtimeNs: 1n,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        size: forged.length,
        // The checksum of the real bytes, the same length as the forged ones.
        checksum: repo.fileChecksum(bytes.length, [repo.blobId(bytes)]),
        content: [],
        inline: forged,
      };
      // Format 4 stores the checksum; format 5 would derive it from the forged bytes, so such
      // a tree can only be one of format 4 (derived-checksums.test.ts checks format 5's ids).
      const plaintext = encodeTree({ entries: [entry] }, TREE_FORMAT_V4);
      const blob = repo.seal("tree", repo.blobId(plaintext), plaintext);
      await repo.store.put([blob]);
      const [head] = (await repo.listSnapshots()).sort((a, b) => b.seq - a.seq);
      await saveCraftedSnapshot(repo, blob.id, head, new Date());
    });
    const target = join(dir, "forged");
    await expect(
      runRestore(context.with(), { repository, target }),
    ).rejects.toMatchObject({ kind: "integrity" });
    expect(() => readFileSync(join(target, "forged.txt"))).toThrow(/ENOENT/);
    await expect(
      runCat(context.with(), { repository, path: "forged.txt" }),
    ).rejects.toMatchObject({ kind: "integrity" });
    const check = context.with();
    await expect(
      runCheck(check, { repository, readData: true }),
    ).rejects.toMatchObject({ kind: "integrity", message: "1 problem found" });
    expect(check.stdout.text()).toMatch(/forged\.txt/);
  });
});

describe("a directory with more small files than its inline budget", () => {
  const SIZE = 1000;
  /** How many files of SIZE bytes the budget takes; six more go beyond it. */
  const FITTING = Math.floor(INLINE_DIR_MAX / SIZE);
  let budgetRepository: string;
  let budgetSource: string;

  function manyName(index: number): string {
    return `many/f${String(index).padStart(4, "0")}`;
  }

  beforeAll(async () => {
    budgetRepository = join(dir, "budget-repo");
    budgetSource = join(dir, "budget-source");
    writeFiles(budgetSource, { "many/.keep": "" });
    for (let index = 1; index <= FITTING + 6; index++)
      writeFileSync(
        join(budgetSource, manyName(index)),
        seededBytes(1000 + index, SIZE),
      );
    await runInit(context.with(), { repository: budgetRepository });
  });

  it("puts the first files by name inline and the rest in data blobs; restore reads both", async () => {
    await runBackup(context.with(), {
      repository: budgetRepository,
      sources: [budgetSource],
    });
    expect(blobRows(budgetRepository, KIND.data)).toHaveLength(6);
    const target = join(dir, "budget-restored");
    await runRestore(context.with(), { repository: budgetRepository, target });
    expect(
      treeDifferences(describeTree(budgetSource), describeTree(target)),
    ).toEqual([]);
  });

  it("a file an earlier run put inline, pushed past the budget by a new file before it, is read again into a blob", async () => {
    // f0000 sorts first and takes its share: the last file that fitted no longer does, and its
    // files-cache row (from when it was inline) names no blob to reuse.
    writeFileSync(join(budgetSource, manyName(0)), seededBytes(999, SIZE));
    const second = await runBackup(context.with(), {
      repository: budgetRepository,
      sources: [budgetSource],
    });
    expect(second).toMatchObject({ filesNew: 1 });
    expect(blobRows(budgetRepository, KIND.data)).toHaveLength(7);
    const target = join(dir, "budget-restored-2");
    await runRestore(context.with(), {
      repository: budgetRepository,
      target,
      verify: true,
    });
    expect(
      treeDifferences(describeTree(budgetSource), describeTree(target)),
    ).toEqual([]);
    const check = context.with({ json: true });
    await runCheck(check, { repository: budgetRepository, readData: true });
    expect(check.json().at(-1)).toMatchObject({ blobsRead: 7, errors: 0 });
  });
});
