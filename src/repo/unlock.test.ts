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
) {
  const plaintext = new TextEncoder().encode(`tree ${seq}`);
  const tree = repo.blobId(plaintext);
  return repo.saveSnapshot({
    seq,
    previous,
    tree,
    time: new Date(Date.UTC(2026, 0, seq)).toISOString(),
    host: "h",
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
