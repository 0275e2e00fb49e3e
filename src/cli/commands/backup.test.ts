import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshRepository } from "../../../test/helpers/command-context.js";
import { runBackup } from "./backup.js";
import { runSnapshots } from "./browse.js";

const fresh = freshRepository({
  source: { "a.txt": "alpha\n", "sub/b.txt": "beta\n" },
  init: true,
});

describe("runBackup()", () => {
  it("saves a snapshot, prints the summary and the snapshot's id, and snapshots lists it", async () => {
    const result = await runBackup(fresh.context, {
      repository: fresh.repository,
      sources: [fresh.source],
      tags: ["first"],
    });
    expect(result.files).toBe(2);
    const [summary, saved] = fresh.context.take();
    expect(summary).toMatch(/^2 files, \d+ directories, .*; Added \d+ blobs/);
    expect(saved).toMatch(/^Snapshot [0-9a-f]{8} saved$/);
    const listing = fresh.context.with();
    const snapshots = await runSnapshots(listing, fresh.repository);
    expect(snapshots).toHaveLength(1);
    expect(listing.take()[0]).toMatch(
      new RegExp(`^${saved!.slice(9, 17)} .* 2 files .*\\[first\\]$`),
    );
  });

  it("--json prints a summary object; --dry-run saves nothing", async () => {
    const json = fresh.context.with({ json: true });
    await runBackup(json, {
      repository: fresh.repository,
      sources: [fresh.source],
      dryRun: true,
    });
    const summary = json.json().at(-1);
    expect(summary).toMatchObject({
      type: "summary",
      snapshot: null,
      files: 2,
      dryRun: true,
    });
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toHaveLength(0);
  });

  it("an unknown compression mode is a usage error before anything is read", async () => {
    await expect(
      runBackup(fresh.context, {
        repository: join(fresh.dir, "nowhere"),
        sources: [fresh.source],
        compression: "fast",
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: '--compression "fast" is not a compression mode',
      hint: "Use auto, off or max",
    });
  });

  it("a wrong passphrase is refused as wrong-passphrase and saves nothing", async () => {
    const wrong = fresh.context.with({ env: { BLINDSYNC_PASSWORD: "not it" } });
    await expect(
      runBackup(wrong, {
        repository: fresh.repository,
        sources: [fresh.source],
      }),
    ).rejects.toMatchObject({ kind: "wrong-passphrase" });
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toHaveLength(0);
  });

  it("a missing repository is no-repository, and --init creates it first", async () => {
    const elsewhere = join(fresh.dir, "other");
    await expect(
      runBackup(fresh.context.with(), {
        repository: elsewhere,
        sources: [fresh.source],
      }),
    ).rejects.toMatchObject({ kind: "no-repository" });
    const result = await runBackup(fresh.context.with(), {
      repository: elsewhere,
      sources: [fresh.source],
      init: true,
    });
    expect(result.snapshot).toBeDefined();
  });

  it("a missing source is a usage error that saves nothing", async () => {
    await expect(
      runBackup(fresh.context.with(), {
        repository: fresh.repository,
        sources: [fresh.source, join(fresh.dir, "missing")],
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: expect.stringContaining("Cannot back up") as unknown,
    });
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toHaveLength(0);
  });

  it.skipIf(process.getuid?.() === 0)(
    "an unreadable file is a partial backup (exit 3) that still saves its snapshot",
    async () => {
      writeFileSync(join(fresh.source, "secret"), "x", { mode: 0o000 });
      const partial = fresh.context.with();
      await expect(
        runBackup(partial, {
          repository: fresh.repository,
          sources: [fresh.source],
        }),
      ).rejects.toMatchObject({ kind: "partial" });
      expect(partial.stderr.text()).toMatch(/warning: .*secret/);
      await expect(
        runSnapshots(fresh.context.with(), fresh.repository),
      ).resolves.toHaveLength(1);
    },
  );
});
