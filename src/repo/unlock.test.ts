import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../errors.js";
import { MemoryStore } from "../store/index.js";
import { Repository } from "./repository.js";
import { advancePin, unlockRepository } from "./unlock.js";

const scrypt = { logN: 15, r: 8, p: 1 };
const secret = new TextEncoder().encode("pw");

async function snapshotInto(
  repo: Repository,
  seq: number,
  previous: Uint8Array | null,
  host = "h",
) {
  const plaintext = new TextEncoder().encode(`tree ${seq}`);
  const tree = repo.blobId(plaintext);
  return repo.saveSnapshot({
    seq,
    previous,
    tree,
    time: new Date(Date.UTC(2026, 0, seq)).toISOString(),
    host,
    username: "u",
    paths: ["/x"],
    tags: [],
    stats: { files: 0, dirs: 0, bytes: 0, blobsAdded: 0, bytesAdded: 0 },
  });
}

describe("unlockRepository()", () => {
  let cacheRoot: string;
  beforeEach(async () => {
    cacheRoot = await mkdtemp(join(tmpdir(), "blindsync-unlock-"));
  });
  afterEach(async () => {
    await rm(cacheRoot, { recursive: true, force: true });
  });

  it("refuses a repository whose head is older than the one this client saw (rollback)", async () => {
    const store = new MemoryStore();
    const repo = await Repository.create(store, secret, { scrypt });
    const first = await snapshotInto(repo, 1, null);
    const unlocked = await unlockRepository({
      store,
      locationKey: "loc",
      cacheRoot,
      passphrase: () => Promise.resolve(secret),
    });
    const second = await snapshotInto(repo, 2, first.id);
    advancePin(unlocked.cache, repo, second);
    unlocked.cache.close();
    await store.delete([second.id]);
    const attempt = unlockRepository({
      store,
      locationKey: "loc",
      cacheRoot,
      passphrase: () => Promise.resolve(secret),
    });
    await expect(attempt).rejects.toSatisfy((error) =>
      isBlindsyncError(error, "rollback"),
    );
  });

  it("refuses another repository at a pinned location before asking for the passphrase", async () => {
    const original = new MemoryStore();
    await Repository.create(original, secret, { scrypt });
    const unlocked = await unlockRepository({
      store: original,
      locationKey: "loc",
      cacheRoot,
      passphrase: () => Promise.resolve(secret),
    });
    unlocked.cache.close();
    const impostor = new MemoryStore();
    await Repository.create(impostor, secret, { scrypt });
    let asked = false;
    const attempt = unlockRepository({
      store: impostor,
      locationKey: "loc",
      cacheRoot,
      passphrase: () => {
        asked = true;
        return Promise.resolve(secret);
      },
    });
    await expect(attempt).rejects.toSatisfy((error) =>
      isBlindsyncError(error, "rollback"),
    );
    expect(asked).toBe(false);
  });

  it("a wrong passphrase is a wrong-passphrase error and writes no cache", async () => {
    const store = new MemoryStore();
    await Repository.create(store, secret, { scrypt });
    const attempt = unlockRepository({
      store,
      locationKey: "loc",
      cacheRoot: join(cacheRoot, "fresh"),
      passphrase: () => Promise.resolve(new TextEncoder().encode("nope")),
    });
    await expect(attempt).rejects.toSatisfy((error) =>
      isBlindsyncError(error, "wrong-passphrase"),
    );
    expect(existsSync(join(cacheRoot, "fresh"))).toBe(false);
  });

  it("a tampered config is an integrity error once the key opens", async () => {
    const store = new MemoryStore();
    await Repository.create(store, secret, { scrypt });
    const config = await store.readConfig();
    const slots = await store.listKeySlots();
    const tampered = Uint8Array.from(config);
    tampered[40] = (tampered[40] ?? 0) ^ 1; // inside the chunker parameters
    const forged = new MemoryStore();
    await forged.create(tampered, slots[0]!);
    await expect(Repository.open(forged, secret)).rejects.toSatisfy((error) =>
      isBlindsyncError(error, "integrity"),
    );
  });

  describe("a pinned head that is gone once a newer head exists", () => {
    const open = (store: MemoryStore) =>
      unlockRepository({
        store,
        locationKey: "loc",
        cacheRoot,
        passphrase: () => Promise.resolve(secret),
      });

    /** A repository with snapshots 1..`upTo` in one line, pinned by this client at `upTo`. */
    async function pinnedAt(upTo: number) {
      const store = new MemoryStore();
      const repo = await Repository.create(store, secret, { scrypt });
      const chain = [];
      let previous: Uint8Array | null = null;
      for (let seq = 1; seq <= upTo; seq++) {
        const snapshot = await snapshotInto(repo, seq, previous);
        chain.push(snapshot);
        previous = snapshot.id;
      }
      const unlocked = await open(store);
      expect(unlocked.cache.pin?.lastSeq).toBe(upTo);
      unlocked.cache.close();
      return { store, repo, chain };
    }

    it("refuses a history written over the pinned head (another head at its height, then newer ones)", async () => {
      const { store, repo, chain } = await pinnedAt(3);
      // The server rolls back to head 2; another client writes 3' and 4' on top.
      await store.delete([chain[2]!.id]);
      const fork = await snapshotInto(repo, 3, chain[1]!.id, "other");
      await snapshotInto(repo, 4, fork.id, "other");
      await expect(open(store)).rejects.toSatisfy(
        (error) =>
          isBlindsyncError(error, "rollback") &&
          /does not descend from it/.test((error as Error).message),
      );
    });

    it("accepts a pinned head that forget removed, named as the previous one of a kept snapshot", async () => {
      const { store, repo, chain } = await pinnedAt(3);
      const fourth = await snapshotInto(repo, 4, chain[2]!.id);
      await store.delete([chain[2]!.id]);
      await snapshotInto(repo, 5, fourth.id);
      (await open(store)).cache.close();
    });

    it("accepts a gap that forget left above the pinned head", async () => {
      const { store, repo, chain } = await pinnedAt(2);
      const third = await snapshotInto(repo, 3, chain[1]!.id);
      const fourth = await snapshotInto(repo, 4, third.id);
      await snapshotInto(repo, 5, fourth.id);
      // forget --keep-last 1 by another client: every snapshot but the head goes.
      await store.delete([chain[0]!.id, chain[1]!.id, third.id, fourth.id]);
      const unlocked = await open(store);
      expect(unlocked.cache.pin?.lastSeq).toBe(5);
      unlocked.cache.close();
    });

    it("refuses a chain that starts above the pinned head", async () => {
      const { store, repo, chain } = await pinnedAt(2);
      await store.delete(chain.map((snapshot) => snapshot.id));
      await snapshotInto(repo, 3, null, "other");
      await expect(open(store)).rejects.toSatisfy((error) =>
        isBlindsyncError(error, "rollback"),
      );
    });
  });

  it("accepts the same repository again and keeps the pin moving forward", async () => {
    const store = new MemoryStore();
    const repo = await Repository.create(store, secret, { scrypt });
    await snapshotInto(repo, 1, null);
    const open = () =>
      unlockRepository({
        store,
        locationKey: "loc",
        cacheRoot,
        passphrase: () => Promise.resolve(secret),
      });
    const first = await open();
    expect(first.cache.pin?.lastSeq).toBe(1);
    first.cache.close();
    const second = await open();
    expect(second.head?.seq).toBe(1);
    second.cache.close();
  });
});
