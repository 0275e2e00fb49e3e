import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  sharedRepository,
  testContext,
} from "../../../test/helpers/command-context.js";
import { makeFifoSync } from "../../util/make-fifo.js";
import { runBackup } from "./backup.js";
import { runInit } from "./init.js";
import { runStats } from "./stats.js";

// The second backup adds c.txt with a.txt's content: one data blob serves both. Each file is
// over 1 KiB, so that it is a data blob rather than bytes inline in its tree.
const ALPHA = "alpha\n".repeat(200);
const BETA = "beta\n".repeat(250);
const shared = sharedRepository([
  { "a.txt": ALPHA, "sub/b.txt": BETA },
  { "c.txt": ALPHA },
]);

describe("runStats()", () => {
  it("counts the repository's blobs by kind and the deduplication ratio, as one JSON object", async () => {
    const stats = shared.context.with({ json: true });
    const result = await runStats(stats, { repository: shared.repository });
    const [printed] = stats.json() as [typeof result];
    expect(printed).toEqual(JSON.parse(JSON.stringify(result)));
    const repository = result.repository!;
    expect(repository.snapshots).toBe(2);
    // ALPHA and BETA: the copy of a.txt stored nothing new.
    expect(repository.blobs.data.count).toBe(2);
    expect(repository.blobs.snapshot.count).toBe(2);
    const { data, tree, snapshot } = repository.blobs;
    expect(repository.storedBytes).toBe(
      data.bytes + tree.bytes + snapshot.bytes,
    );
    // 2450 bytes in the first snapshot, 3650 in the second.
    expect(repository.logicalBytes).toBe(6100);
    expect(repository.files).toBe(5);
    expect(repository.dedupRatio).toBe(
      Math.round((6100 / repository.storedBytes) * 100) / 100,
    );
    expect(result.restoreSize).toBeUndefined();
  });

  it("prints the repository in lines a person reads", async () => {
    const stats = shared.context.with();
    await runStats(stats, { repository: shared.repository });
    const lines = stats.take();
    expect(lines[0]).toBe("Snapshots:      2");
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^Deduplication: +\d+\.\d\dx \(logical \/ stored\)$/,
      ),
    );
  });

  it("counts a snapshot's restore size from its trees, the default with a snapshot", async () => {
    const stats = shared.context.with();
    const result = await runStats(stats, {
      repository: shared.repository,
      snapshot: "latest",
    });
    expect(result.snapshot?.id).toBeDefined();
    expect(result.restoreSize).toEqual({
      files: 3,
      dirs: 1,
      symlinks: 0,
      fifos: 0,
      others: 0,
      bytes: 3650,
    });
    expect(result.repository).toBeUndefined();
    expect(stats.take()).toContainEqual(
      "  Restore size: 3.56 KiB in 3 files, 1 directory, 0 symlinks",
    );
  });

  it("over all snapshots the trees give the sizes the backups recorded", async () => {
    const result = await runStats(shared.context.with(), {
      repository: shared.repository,
      mode: "restore-size",
    });
    expect(result.restoreSize?.bytes).toBe(result.repository?.logicalBytes);
    expect(result.restoreSize?.files).toBe(result.repository?.files);
  });

  it("raw-data counts the distinct blobs referenced and their stored bytes", async () => {
    const latest = await runStats(shared.context.with(), {
      repository: shared.repository,
      snapshot: shared.ids[1]!,
      mode: "raw-data",
    });
    // Two data blobs, the root tree and sub's tree.
    expect(latest.rawData).toMatchObject({ blobs: 4, missing: 0 });
    const all = await runStats(shared.context.with(), {
      repository: shared.repository,
      mode: "raw-data",
    });
    // Both roots; sub's tree is shared. Everything stored but the snapshots is referenced.
    expect(all.rawData).toEqual({
      blobs: 5,
      missing: 0,
      storedBytes:
        all.repository!.blobs.data.bytes + all.repository!.blobs.tree.bytes,
    });
    expect(latest.rawData!.storedBytes).toBeLessThan(all.rawData!.storedBytes);
  });
});

describe("runStats() of a snapshot holding a fifo", () => {
  it("counts the fifo as one, without bytes", async () => {
    const { context, dir, cleanup } = testContext();
    try {
      const source = join(dir, "source");
      mkdirSync(source);
      writeFileSync(join(source, "note.txt"), "note\n");
      makeFifoSync(Buffer.from(join(source, "queue")), 0o600);
      const repository = join(dir, "repo");
      await runInit(context.with(), { repository });
      await runBackup(context.with(), { repository, sources: [source] });
      const stats = context.with();
      const result = await runStats(stats, { repository, snapshot: "latest" });
      expect(result.restoreSize).toMatchObject({
        files: 1,
        fifos: 1,
        others: 0,
        bytes: 5,
      });
      expect(stats.take()).toContainEqual(
        expect.stringMatching(/ 1 file, .*, 1 fifo$/),
      );
    } finally {
      cleanup();
    }
  });
});
