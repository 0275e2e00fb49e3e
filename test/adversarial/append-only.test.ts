/**
 * T16: an append-only forced command through a real sshd. The client key may only run
 * `blindsync serve --append-only` (authorized_keys `command=...,restrict`). Through it, every
 * operation that would destroy or rewrite history is refused with a clear error: the CLI's
 * forget, prune, key remove and key passwd, and at the protocol level delete, overwriting an
 * existing id with other bytes, removing a key slot, bumping the prune generation and compacting.
 * After all of them the stored rows are unchanged (counted and hashed table by table), and a
 * backup through the same forced command still works and restores exactly.
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../src/errors.js";
import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/index.js";
import { CLI, type CliResult, runCli } from "../helpers/cli.js";
import { storedKeySlots, withDatabase } from "../helpers/database.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";
import { seededBytes } from "../helpers/prng.js";
import { startSshd, type Sshd } from "../helpers/sshd.js";

let sshd: Sshd;
let work: string;
let repoPath: string;
let location: string;
let source: string;
let env: Record<string, string>;

/** Row counts and a SHA-256 over every row of the tables that hold history. */
function storedState(): { counts: Record<string, number>; digest: string } {
  return withDatabase(
    repoPath,
    (db) => {
      const hash = createHash("sha256");
      const counts: Record<string, number> = {};
      for (const [table, order] of [
        ["config", "key"],
        ["key_slots", "name"],
        ["blobs", "id"],
        ["blob_data", "rowid"],
      ] as const) {
        const rows = db
          .prepare(`SELECT * FROM ${table} ORDER BY ${order}`)
          .raw()
          .all() as unknown[][];
        counts[table] = rows.length;
        for (const row of rows)
          for (const value of row)
            hash.update(
              value instanceof Buffer ? value : `${String(value)}\u0000`,
            );
      }
      return { counts, digest: hash.digest("hex") };
    },
    { readonly: true },
  );
}

function cli(args: readonly string[]): Promise<CliResult> {
  return runCli(args, { cacheDir: join(work, "cache"), env });
}

beforeAll(async () => {
  sshd = await startSshd();
  work = await tempDir("blindsync-t16-");
  repoPath = join(work, "repo");
  location = `127.0.0.1:${repoPath}`;
  source = join(work, "source");
  await fsp.mkdir(join(source, "sub"), { recursive: true });
  await fsp.writeFile(join(source, "a.txt"), "first version\n");
  await fsp.writeFile(join(source, "sub", "b.bin"), seededBytes(3, 200_000));
  env = {
    BLINDSYNC_SSH: sshd.sshCommand,
    BLINDSYNC_REMOTE_CMD: `${process.execPath} ${CLI}`,
    BLINDSYNC_NEW_PASSWORD: "a new passphrase",
  };
  // Set up with the unrestricted key: a repository with two snapshots and two key slots.
  for (const args of [
    ["init", location],
    ["backup", source, location],
    ["key", "add", location],
  ]) {
    if (args[0] === "backup")
      await fsp.writeFile(join(source, "a.txt"), "second version\n");
    const result = await cli(args);
    expect(result.code, result.stderr).toBe(0);
  }
  await fsp.writeFile(join(source, "a.txt"), "third version\n");
  expect((await cli(["backup", source, location])).code).toBe(0);
  await sshd.setForcedCommand(`${process.execPath} ${CLI} serve --append-only`);
}, 180_000);

afterAll(async () => {
  await sshd.stop();
  await removeDir(work);
});

async function firstKeySlot(store: Store): Promise<string> {
  const [slot] = await store.listKeySlots();
  if (slot === undefined) throw new Error("no key slot");
  return slot.name;
}

describe("an append-only forced command over a real sshd (T16)", () => {
  it("refuses forget, prune, key remove and key passwd from the CLI with a clear error, leaving every row unchanged", async () => {
    const before = storedState();
    expect(before.counts.key_slots).toBe(2);
    const slotName = storedKeySlots(repoPath)[0]?.name;
    expect(slotName).toBeDefined();
    const attempts: [string, string[]][] = [
      ["forget", ["forget", location, "--keep-last", "1"]],
      ["prune", ["prune", location]],
      ["key remove", ["key", "remove", location, slotName ?? "?"]],
      ["key passwd", ["key", "passwd", location]],
    ];
    for (const [name, args] of attempts) {
      const result = await cli(args);
      expect(result.code, `${name}: ${result.stderr}`).toBe(1);
      expect(result.stderr, name).toMatch(/append-only/i);
      expect(storedState(), name).toEqual(before);
    }
  });

  it("refuses delete, overwrite, key slot removal, generation bump and compact at the protocol level, leaving every row unchanged", async () => {
    const before = storedState();
    const store = await openStore(location, {
      mode: "open",
      sshCommand: sshd.sshCommand,
      remoteCommand: `${process.execPath} ${CLI}`,
    });
    try {
      expect(store.appendOnly).toBe(true);
      const blobs: { id: Uint8Array; kind: "data" | "tree" | "snapshot" }[] =
        [];
      for await (const info of store.list()) blobs.push(info);
      const victim = blobs.find((blob) => blob.kind === "snapshot");
      if (victim === undefined) throw new Error("no snapshot blob");
      const original = await store.get(victim.id);
      const refusals: [string, () => Promise<unknown>][] = [
        ["delete", () => store.delete([victim.id])],
        ["delete all", () => store.delete(blobs.map((blob) => blob.id))],
        [
          "remove key slot",
          async () => store.removeKeySlot(await firstKeySlot(store)),
        ],
        ["bump generation", () => store.bumpGeneration()],
        ["compact", () => store.compact()],
      ];
      for (const [name, run] of refusals) {
        const error = await run().then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(isBlindsyncError(error, "append-only"), name).toBe(true);
        expect(String(error), name).toMatch(/append-only/);
      }
      // Overwrite: a put of an existing id with other bytes is either refused or ignored;
      // either way the stored bytes stay the original ones.
      const forged = new Uint8Array(original);
      forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0xff;
      const overwrite = await store
        .put([{ id: victim.id, kind: "snapshot", bytes: forged }])
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      if (overwrite !== undefined)
        expect(isBlindsyncError(overwrite, "append-only")).toBe(true);
      expect(await store.get(victim.id)).toEqual(original);
    } finally {
      await store.close();
    }
    expect(storedState()).toEqual(before);
  });

  it("still accepts a backup through the forced command, which then restores exactly", async () => {
    const before = storedState();
    await fsp.writeFile(join(source, "new.txt"), "added under append-only\n");
    const backup = await cli(["backup", source, location]);
    expect(backup.code, backup.stderr).toBe(0);
    const after = storedState();
    expect(after.counts.blobs).toBeGreaterThan(before.counts.blobs ?? 0);
    expect(after.counts.key_slots).toBe(before.counts.key_slots);
    const target = join(work, "restored");
    const restore = await cli(["restore", location, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );
  });
});
