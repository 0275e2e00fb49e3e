/**
 * Tree format 5: a backup's trees store no checksum over chunk ids, only that one is derived
 * (docs/design.md, "Tree format 5"). Every reader derives it under its repository's keys from
 * the entry's size and content, so restore --verify, cat and check --read-data still check each
 * file end to end: each chunk's id is recomputed from the bytes decrypted. A crafted tree can
 * no longer hold a checksum that disagrees with its ids or inline bytes, but a data blob whose
 * plaintext is not its id is still caught. A copy's trees derive theirs under the destination's
 * keys, also when the source's trees are of format 4 and stored them.
 *
 * In process (run* functions): one source repository, one copy; a handful of files.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runCat, runDiff } from "../../src/cli/commands/browse.js";
import { runCheck } from "../../src/cli/commands/check.js";
import { runCopy } from "../../src/cli/commands/copy.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runRestore } from "../../src/cli/commands/restore.js";
import {
  decodeTree,
  encodeTree,
  Repository,
  TREE_FORMAT_V4,
  TREE_FORMAT_VERSION,
  type FileEntry,
  type TreeEntry,
} from "../../src/repo/index.js";
import { SqliteStore, type BlobId } from "../../src/store/index.js";
import {
  testContext,
  writeFiles,
  type TestContext,
} from "../helpers/command-context.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { saveCraftedSnapshot } from "../helpers/craft.js";
import { seededBytes } from "../helpers/prng.js";
import { withRepository } from "../helpers/repositories.js";
import { describeTree, treeDifferences } from "../helpers/trees.js";

/** Small files go inline, the larger ones are data blobs; ten files in all. */
const SIZES = [1, 300, 900, 1000, 5000, 70_000, 300_000, 0];
const FILES = SIZES.length + 2;

let context: TestContext;
let dir: string;
let cleanup = (): void => undefined;
let repository: string;
let source: string;

beforeAll(async () => {
  ({ context, dir, cleanup } = testContext());
  repository = join(dir, "repo");
  source = join(dir, "source");
  writeFiles(source, { "sub/a.txt": "alpha\n", "sub/b.txt": "beta\n" });
  for (const [index, size] of SIZES.entries())
    writeFileSync(join(source, `f${index}`), seededBytes(index, size));
  await runInit(context.with(), { repository });
  await runBackup(context.with(), { repository, sources: [source] });
});

afterAll(() => {
  cleanup();
});

/** The newest snapshot's root tree: its plaintext and its decoded entries. */
async function rootTree(
  repo: Repository,
): Promise<{ plaintext: Uint8Array; entries: readonly TreeEntry[] }> {
  const [head] = (await repo.listSnapshots()).sort((a, b) => b.seq - a.seq);
  const plaintext = await repo.load("tree", head!.tree);
  return { plaintext, entries: decodeTree(plaintext, repo).entries };
}

function filesOf(entries: readonly TreeEntry[]): FileEntry[] {
  return entries.filter((entry): entry is FileEntry => entry.type === "file");
}

describe("tree format 5: derived checksums", () => {
  it("a backup writes format-5 trees that store no checksum over chunk ids, 32 bytes a file fewer than format 4", async () => {
    await withRepository(repository, async (repo) => {
      const { plaintext, entries } = await rootTree(repo);
      expect(plaintext[0]).toBe(TREE_FORMAT_VERSION);
      const files = filesOf(entries);
      expect(files).toHaveLength(SIZES.length);
      const stored = Buffer.from(plaintext);
      for (const file of files) {
        expect(file.checksum).toMatchObject({
          kind: "chunk-ids",
          derived: true,
        });
        // Derived under this repository's keys, as a backup computes it; not in the bytes.
        const ids =
          file.inline === undefined ? file.content : [repo.blobId(file.inline)];
        expect(file.checksum.digest).toEqual(
          repo.fileChecksum(file.size, ids).digest,
        );
        expect(stored.indexOf(file.checksum.digest)).toBe(-1);
      }
      expect(files.filter((file) => file.inline !== undefined)).toHaveLength(4);
      // The same directory as format 4 stores each checksum: 32 bytes a file more.
      const v4 = encodeTree({ entries }, TREE_FORMAT_V4);
      expect(v4.length - plaintext.length).toBe(32 * files.length);
    });
  });

  it("restore --verify, cat and check --read-data verify every file against its derived checksum", async () => {
    const target = join(dir, "restored");
    const restored = await runRestore(context.with(), {
      repository,
      target,
      verify: true,
    });
    expect(restored.verified).toBe(FILES);
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );
    for (const index of [2, 6]) {
      const cat = context.with();
      await runCat(cat, { repository, path: `f${index}` });
      expect(Buffer.concat(cat.stdout.chunks)).toEqual(
        Buffer.from(seededBytes(index, SIZES[index]!)),
      );
    }
    const check = context.with({ json: true });
    await runCheck(check, { repository, readData: true });
    expect(check.json().at(-1)).toMatchObject({
      filesVerified: FILES,
      errors: 0,
    });
  });

  it("a format-5 tree naming a data blob whose plaintext is not its id is refused by restore, cat and check --read-data", async () => {
    const crafted = join(dir, "crafted-repo");
    await runInit(context.with(), { repository: crafted });
    await withRepository(crafted, async (repo) => {
      const real = Buffer.from(seededBytes(90, 4000));
      const forged = Buffer.from(seededBytes(91, 4000));
      const id: BlobId = repo.blobId(real);
      const entry: TreeEntry = {
        name: Buffer.from("forged.bin"),
        type: "file",
        mode: 0o644,
        mtimeNs: 1n,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        size: real.length,
        checksum: repo.fileChecksum(real.length, [id]),
        content: [id],
      };
      // A key holder can seal any bytes under any id; the tree derives its checksum from it.
      await repo.store.put([repo.seal("data", id, forged)]);
      const plaintext = encodeTree({ entries: [entry] });
      expect(plaintext[0]).toBe(TREE_FORMAT_VERSION);
      const tree = repo.seal("tree", repo.blobId(plaintext), plaintext);
      await repo.store.put([tree]);
      await saveCraftedSnapshot(repo, tree.id, undefined, new Date());
    });
    const target = join(dir, "forged");
    await expect(
      runRestore(context.with(), { repository: crafted, target }),
    ).rejects.toMatchObject({ kind: "integrity" });
    await expect(
      runCat(context.with(), { repository: crafted, path: "forged.bin" }),
    ).rejects.toMatchObject({ kind: "integrity" });
    const check = context.with();
    await expect(
      runCheck(check, { repository: crafted, readData: true }),
    ).rejects.toMatchObject({ kind: "integrity" });
  });

  it("diff finds no change between a format-4 and a format-5 tree of the same files; copy derives the checksums under the destination's keys from both", async () => {
    // The newest source snapshot: the backup's tree written again as format 4, digests stored.
    const [format5, format4] = await withRepository(
      repository,
      async (repo) => {
        const { entries } = await rootTree(repo);
        const plaintext = encodeTree({ entries }, TREE_FORMAT_V4);
        const tree = repo.seal("tree", repo.blobId(plaintext), plaintext);
        await repo.store.put([tree]);
        const [head] = (await repo.listSnapshots()).sort(
          (a, b) => b.seq - a.seq,
        );
        const crafted = await saveCraftedSnapshot(
          repo,
          tree.id,
          head,
          new Date(),
        );
        return [head!.id, crafted.id].map((id) =>
          Buffer.from(id).toString("hex"),
        );
      },
    );
    const diff = context.with({ json: true });
    await expect(
      runDiff(diff, { repository, before: format5!, after: format4! }),
    ).resolves.toBe(0);
    const to = join(dir, "copy");
    const passphrase = "the destination's own passphrase";
    const env = {
      BLINDSYNC_PASSWORD: passphrase,
      BLINDSYNC_FROM_PASSWORD: TEST_PASSWORD,
    };
    await runInit(context.with({ env }), { repository: to });
    const copied = await runCopy(context.with({ env }), {
      from: repository,
      to,
    });
    expect(copied.copied).toHaveLength(2);
    // Format 5 in the destination, whichever format the source's tree was; no digest stored.
    const store = await SqliteStore.open(to, { readonly: true });
    try {
      const repo = await Repository.open(store, Buffer.from(passphrase));
      for (const snapshot of copied.copied) {
        const plaintext = await repo.load("tree", snapshot.to.tree);
        expect(plaintext[0]).toBe(TREE_FORMAT_VERSION);
        for (const file of filesOf(decodeTree(plaintext, repo).entries))
          expect(file.checksum.derived).toBe(true);
      }
    } finally {
      await store.close();
    }
    const check = context.with({ json: true, env });
    await runCheck(check, { repository: to, readData: true });
    expect(check.json().at(-1)).toMatchObject({ errors: 0 });
    for (const snapshot of copied.copied) {
      const target = join(dir, `copy-restored-${snapshot.to.seq}`);
      const restored = await runRestore(context.with({ env }), {
        repository: to,
        target,
        snapshot: Buffer.from(snapshot.to.id).toString("hex"),
        verify: true,
      });
      expect(restored.verified).toBe(FILES);
      expect(
        treeDifferences(describeTree(source), describeTree(target)),
      ).toEqual([]);
    }
  });
});
