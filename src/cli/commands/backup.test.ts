import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { runBackup } from "./backup.js";
import { runSnapshots } from "./browse.js";
import { runInit } from "./init.js";

let context: TestContext;
let dir: string;
let cleanup: () => void;
let repository: string;
let source: string;

beforeEach(async () => {
  ({ context, dir, cleanup } = testContext());
  repository = join(dir, "repo");
  source = join(dir, "source");
  mkdirSync(join(source, "sub"), { recursive: true });
  writeFileSync(join(source, "a.txt"), "alpha\n");
  writeFileSync(join(source, "sub", "b.txt"), "beta\n");
  await runInit(context.with(), { repository });
});
afterEach(() => {
  cleanup();
});

describe("runBackup()", () => {
  it("saves a snapshot, prints the summary and the snapshot's id, and snapshots lists it", async () => {
    const result = await runBackup(context, {
      repository,
      sources: [source],
      tags: ["first"],
    });
    expect(result.files).toBe(2);
    const [summary, saved] = context.take();
    expect(summary).toMatch(/^2 files, \d+ directories, .*; Added \d+ blobs/);
    expect(saved).toMatch(/^Snapshot [0-9a-f]{8} saved$/);
    const listing = context.with();
    const snapshots = await runSnapshots(listing, repository);
    expect(snapshots).toHaveLength(1);
    expect(listing.take()[0]).toMatch(
      new RegExp(`^${saved!.slice(9, 17)} .* 2 files .*\\[first\\]$`),
    );
  });

  it("--json prints a summary object; --dry-run saves nothing", async () => {
    const json = context.with({ json: true });
    await runBackup(json, { repository, sources: [source], dryRun: true });
    const summary = json.json().at(-1);
    expect(summary).toMatchObject({
      type: "summary",
      snapshot: null,
      files: 2,
      dryRun: true,
    });
    await expect(
      runSnapshots(context.with(), repository),
    ).resolves.toHaveLength(0);
  });

  it("an unknown compression mode is a usage error before anything is read", async () => {
    await expect(
      runBackup(context, {
        repository: join(dir, "nowhere"),
        sources: [source],
        compression: "fast",
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: '--compression "fast" is not a compression mode',
      hint: "Use auto, off or max",
    });
  });

  it("a wrong passphrase is refused as wrong-passphrase and saves nothing", async () => {
    const wrong = context.with({ env: { BLINDSYNC_PASSWORD: "not it" } });
    await expect(
      runBackup(wrong, { repository, sources: [source] }),
    ).rejects.toMatchObject({ kind: "wrong-passphrase" });
    await expect(
      runSnapshots(context.with(), repository),
    ).resolves.toHaveLength(0);
  });

  it("a missing repository is no-repository, and --init creates it first", async () => {
    const elsewhere = join(dir, "other");
    await expect(
      runBackup(context.with(), { repository: elsewhere, sources: [source] }),
    ).rejects.toMatchObject({ kind: "no-repository" });
    const result = await runBackup(context.with(), {
      repository: elsewhere,
      sources: [source],
      init: true,
    });
    expect(result.snapshot).toBeDefined();
  });

  it("a missing source is a usage error that saves nothing", async () => {
    await expect(
      runBackup(context.with(), {
        repository,
        sources: [source, join(dir, "missing")],
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: expect.stringContaining("Cannot back up") as unknown,
    });
    await expect(
      runSnapshots(context.with(), repository),
    ).resolves.toHaveLength(0);
  });

  it.skipIf(process.getuid?.() === 0)(
    "an unreadable file is a partial backup (exit 3) that still saves its snapshot",
    async () => {
      writeFileSync(join(source, "secret"), "x", { mode: 0o000 });
      const partial = context.with();
      await expect(
        runBackup(partial, { repository, sources: [source] }),
      ).rejects.toMatchObject({ kind: "partial" });
      expect(partial.stderr.text()).toMatch(/warning: .*secret/);
      await expect(
        runSnapshots(context.with(), repository),
      ).resolves.toHaveLength(1);
    },
  );
});
