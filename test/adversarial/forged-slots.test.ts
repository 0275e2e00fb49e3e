/**
 * Issue 17 item 6: key slots that anyone who can write to the store can add, named to sort
 * before the real one. Slots used to be tried in name order with a full KDF each, so every
 * forged slot cost every client one more KDF (and the bounds allowed 512 times the default work
 * per slot). Now the slot this client opened last is tried first, at most
 * MAX_KDF_RUNS_PER_UNLOCK KDFs run per unlock, and a per-slot ceiling bounds each one.
 *
 * KDF runs are counted through the seam every unlock goes through (Repository.open's DeriveKek,
 * and the count it keeps), on a real SQLite repository and a real client cache; the CLI cases
 * show the same through the built executable: a client that opened the repository before
 * still opens it with more forged slots in front of its own than the budget allows.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveFromPassphrase } from "../../src/crypto/index.js";
import { isBlindsyncError } from "../../src/errors.js";
import {
  MAX_KDF_RUNS_PER_UNLOCK,
  Repository,
  readConnectionHints,
  unlockRepository,
} from "../../src/repo/index.js";
import { createKeySlot } from "../../src/repo/keys.js";
import { SqliteStore } from "../../src/store/index.js";
import { runCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { databaseOf } from "../helpers/database.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const PASSWORD = new TextEncoder().encode(TEST_PASSWORD);
const FAST = { logN: 15, r: 8, p: 1 } as const;

let work: string;

beforeAll(async () => {
  work = await tempDir("blindsync-forged-slots-");
});

afterAll(async () => {
  await removeDir(work);
});

/** A well-formed slot for a passphrase nobody here knows, wrapping a random master. */
async function forgedSlot(
  repositoryId: Uint8Array,
  params: { logN: number; r: number; p: number } = FAST,
): Promise<Uint8Array> {
  return createKeySlot(
    new Uint8Array(randomBytes(16)),
    new Uint8Array(randomBytes(32)),
    repositoryId,
    params,
  );
}

/** Names that sort before any 16-hex-digit name newKeySlotName() draws. */
const forgedName = (index: number): string =>
  `0000000000000${String(index).padStart(3, "0")}`;

describe("forged key slots named to sort first (issue 17 item 6)", () => {
  it("cost a client that has opened the repository before no extra KDF, and a fresh client at most the budget", async () => {
    const dir = join(work, "in-process");
    const store = await SqliteStore.open(join(dir, "repo"), { create: true });
    const cacheRoot = join(dir, "cache");
    const locationKey = join(dir, "repo");
    try {
      const created = await Repository.create(store, PASSWORD, {
        scrypt: FAST,
      });
      const first = await unlockRepository({
        store,
        locationKey,
        cacheRoot,
        passphrase: () => Promise.resolve(PASSWORD),
      });
      first.cache.close();
      const forgedCount = MAX_KDF_RUNS_PER_UNLOCK + 2;
      for (let index = 0; index < forgedCount; index++)
        await store.addKeySlot({
          name: forgedName(index),
          bytes: await forgedSlot(created.id),
        });
      const names = (await store.listKeySlots()).map((slot) => slot.name);
      expect(names.at(-1)).toBe(created.keySlotName);

      // The client that opened it before: its cache's hint puts its own slot first.
      const hint = readConnectionHints(cacheRoot, locationKey).keySlot;
      expect(hint).toBeDefined();
      let runs = 0;
      const counting = (params: Parameters<typeof deriveFromPassphrase>[1]) => {
        runs += 1;
        return deriveFromPassphrase(PASSWORD, params);
      };
      const known = await Repository.open(store, PASSWORD, counting, {
        preference: { bytes: hint },
      });
      expect(runs).toBe(1);
      expect(known.kdfRuns).toBe(1);
      expect(known.keySlotName).toBe(created.keySlotName);
      // The same through unlockRepository, as every command unlocks.
      const again = await unlockRepository({
        store,
        locationKey,
        cacheRoot,
        passphrase: () => Promise.resolve(PASSWORD),
        keySlotHint: hint,
      });
      again.cache.close();
      expect(again.repo.kdfRuns).toBe(1);

      // A fresh client (no hint) runs at most the budget, then says which slots it skipped.
      runs = 0;
      const fresh = await Repository.open(store, PASSWORD, counting).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(runs).toBe(MAX_KDF_RUNS_PER_UNLOCK);
      expect(isBlindsyncError(fresh, "wrong-passphrase")).toBe(true);
      const message = String(fresh);
      expect(message).toMatch(/were not tried, to bound the KDF work/);
      expect(message).toContain(created.keySlotName);
      expect((fresh as { hint?: string }).hint).toMatch(/BLINDSYNC_KEY_SLOT/);
      // Naming its slot is the fresh client's way in: one KDF.
      runs = 0;
      const named = await Repository.open(store, PASSWORD, counting, {
        preference: { name: created.keySlotName },
      });
      expect(runs).toBe(1);
      expect(named.keySlotName).toBe(created.keySlotName);
    } finally {
      await store.close();
    }
  });

  it("through the CLI: a client that has opened the repository before opens it in spite of more forged slots in front than the budget; a fresh one is told which slots it skipped and gets in with BLINDSYNC_KEY_SLOT", async () => {
    const dir = join(work, "cli");
    const repo = join(dir, "repo");
    const cacheDir = join(dir, "cache");
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
    const seen = await runCli(["snapshots", repo], { cacheDir });
    expect(seen.code, seen.stderr).toBe(0);
    const db = new Database(databaseOf(repo));
    let realName: string;
    try {
      const config = await SqliteStore.open(repo, {}).then(async (store) => {
        try {
          return await Repository.readConfig(store);
        } finally {
          await store.close();
        }
      });
      realName = db
        .prepare("SELECT name FROM key_slots")
        .pluck()
        .get() as string;
      // More than the budget: without its own slot first, even this client could not get in.
      for (let index = 0; index < MAX_KDF_RUNS_PER_UNLOCK + 1; index++)
        db.prepare("INSERT INTO key_slots (name, bytes) VALUES (?, ?)").run(
          forgedName(index),
          await forgedSlot(config.repositoryId),
        );
    } finally {
      db.close();
    }

    const known = await runCli(["snapshots", repo], { cacheDir });
    expect(known.code, known.stderr).toBe(0);

    const freshCache = join(dir, "fresh-cache");
    const fresh = await runCli(["snapshots", repo], { cacheDir: freshCache });
    expect(fresh.code, fresh.stderr).toBe(12);
    expect(fresh.stderr).toMatch(/more were not tried/);
    expect(fresh.stderr).toContain(realName);
    expect(fresh.stderr).toMatch(/BLINDSYNC_KEY_SLOT/);
    expect(fresh.stderr).not.toMatch(/\n\s+at /);

    const named = await runCli(["snapshots", repo], {
      cacheDir: freshCache,
      env: { BLINDSYNC_KEY_SLOT: realName },
    });
    expect(named.code, named.stderr).toBe(0);
    // Once in, it remembers its slot: no name needed any more.
    const later = await runCli(["snapshots", repo], { cacheDir: freshCache });
    expect(later.code, later.stderr).toBe(0);
  }, 120_000);
});
