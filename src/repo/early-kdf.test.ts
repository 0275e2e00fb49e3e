import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../errors.js";
import { MemoryStore } from "../store/index.js";
import { readConnectionHints } from "./cache/client-cache.js";
import { deriveWithEarly, startEarlyKdf, type EarlyKdf } from "./early-kdf.js";
import { parseKeySlot } from "./keys.js";
import { Repository } from "./repository.js";
import { unlockRepository, type UnlockedRepository } from "./unlock.js";

const scrypt = { logN: 15, r: 8, p: 1 };
const secret = new TextEncoder().encode("pw");
const notAsked = (): Promise<Uint8Array> =>
  Promise.reject(new Error("the passphrase must not be asked for"));

describe("early KDF", () => {
  let cacheRoot: string;
  beforeEach(async () => {
    cacheRoot = await mkdtemp(join(tmpdir(), "blindsync-early-kdf-"));
  });
  afterEach(async () => {
    await rm(cacheRoot, { recursive: true, force: true });
  });

  /** Unlocks with an early KDF only: asking for the passphrase fails the test. */
  async function unlockEarly(
    store: MemoryStore,
    early: EarlyKdf | undefined,
  ): Promise<UnlockedRepository> {
    const unlocked = await unlockRepository({
      store,
      locationKey: "loc",
      cacheRoot,
      passphrase: notAsked,
      early,
    });
    unlocked.cache.close();
    return unlocked;
  }

  async function unlockOnce(store: MemoryStore): Promise<void> {
    const unlocked = await unlockRepository({
      store,
      locationKey: "loc",
      cacheRoot,
      passphrase: () => Promise.resolve(secret),
    });
    unlocked.cache.close();
  }

  it("remembers the slot that opened, and reuses the derivation started for it", async () => {
    const store = new MemoryStore();
    await Repository.create(store, secret, { scrypt });
    expect(readConnectionHints(cacheRoot, "loc").keySlot).toBeUndefined();
    await unlockOnce(store);
    const [slot] = await store.listKeySlots();
    const hint = readConnectionHints(cacheRoot, "loc").keySlot;
    expect(hint).toEqual(slot?.bytes);

    const early = startEarlyKdf(secret, hint as Uint8Array);
    if (early === undefined) throw new Error("the hint did not parse");
    const derive = deriveWithEarly(early);
    const params = parseKeySlot(hint as Uint8Array).params;
    expect(derive(params)).toBe(early.kek);
    expect(derive({ ...params, salt: new Uint8Array(32) })).not.toBe(early.kek);

    const unlocked = await unlockEarly(store, early);
    expect(unlocked.repo.id).toHaveLength(32);
  });

  it("still unlocks when the remembered slot is gone (passphrase changed elsewhere)", async () => {
    const store = new MemoryStore();
    const repo = await Repository.create(store, secret, { scrypt });
    await unlockOnce(store);
    const hint = readConnectionHints(cacheRoot, "loc").keySlot as Uint8Array;
    // Another client replaces the slot: same passphrase, fresh salt.
    await repo.addKey(secret, scrypt);
    await store.removeKeySlot(repo.keySlotName);

    await unlockEarly(store, startEarlyKdf(secret, hint));
    const [slot] = await store.listKeySlots();
    expect(readConnectionHints(cacheRoot, "loc").keySlot).toEqual(slot?.bytes);
  });

  it("refuses a wrong passphrase exactly as without it", async () => {
    const store = new MemoryStore();
    await Repository.create(store, secret, { scrypt });
    await unlockOnce(store);
    const hint = readConnectionHints(cacheRoot, "loc").keySlot as Uint8Array;
    const early = startEarlyKdf(new TextEncoder().encode("wrong"), hint);
    const attempt = unlockEarly(store, early);
    await expect(attempt).rejects.toSatisfy((error) =>
      isBlindsyncError(error, "wrong-passphrase"),
    );
  });

  it("ignores a damaged hint and one with KDF parameters out of bounds", async () => {
    expect(startEarlyKdf(secret, new Uint8Array(10))).toBeUndefined();
    const store = new MemoryStore();
    await Repository.create(store, secret, { scrypt });
    const [slot] = await store.listKeySlots();
    const huge = Uint8Array.from(slot?.bytes ?? []);
    huge[6] = 30; // logN: "BSKS" | version | kdf | logN
    expect(() => parseKeySlot(huge)).toThrow();
    expect(startEarlyKdf(secret, huge)).toBeUndefined();
  });
});
