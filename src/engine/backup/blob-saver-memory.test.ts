/**
 * The blob saver's memory bounds (docs/performance.md, "Memory of the initial backup"): the
 * plaintext of the batches under way stays within IN_FLIGHT_BYTES however many large chunks
 * a file has, and every batch's dropped bytes are counted toward a collection of the main
 * thread's heap.
 */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClientCache, Repository } from "../../repo/index.js";
import { MemoryStore, type BlobId, type BlobToPut } from "../../store/index.js";
import { seededBytes } from "../../../test/helpers/prng.js";
import { removeDir, tempDir } from "../../../test/helpers/trees.js";
import { GarbageBudget } from "../../util/garbage-budget.js";
import {
  BlobSaver,
  IN_FLIGHT_BYTES,
  MAX_BATCHES_IN_FLIGHT,
} from "./blob-saver.js";

const PASSWORD = new TextEncoder().encode("blob saver memory test passphrase");
const FAST_KDF = { scrypt: { logN: 15, r: 8, p: 1 } };
const MiB = 1024 * 1024;

let work: string;
let cache: ClientCache;
let repo: Repository;
let store: MemoryStore;

beforeEach(async () => {
  work = await tempDir();
  store = new MemoryStore();
  repo = await Repository.create(store, PASSWORD, FAST_KDF);
  cache = ClientCache.open(join(work, "cache"), "blob-saver-memory");
});

afterEach(async () => {
  cache.close();
  await removeDir(work);
});

/**
 * Makes the store's put() take 200 ms, longer than the saver needs to make and seal several
 * batches, and records how many blobs were being put at once, at most: the saver then starts
 * batches as far as its bounds allow and waits, so the answer counts its bounds.
 */
function countBlobsUnderWay(): () => number {
  const put = store.put.bind(store);
  let blobs = 0;
  let maxBlobs = 0;
  store.put = async (batch: readonly BlobToPut[]) => {
    blobs += batch.length;
    maxBlobs = Math.max(maxBlobs, blobs);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await put(batch);
    blobs -= batch.length;
  };
  return () => maxBlobs;
}

/** A distinct id and incompressible plaintext per index (they need not match here). */
function blob(
  index: number,
  size: number,
): { id: Uint8Array; plaintext: Uint8Array } {
  const id = new Uint8Array(32);
  new DataView(id.buffer).setUint32(0, index + 1);
  return { id, plaintext: new Uint8Array(seededBytes(index + 1, size)) };
}

describe("BlobSaver memory", () => {
  it("keeps at most IN_FLIGHT_BYTES of a large file's chunks under way", async () => {
    const maxBlobs = countBlobsUnderWay();
    const saver = new BlobSaver(repo, cache);
    const count = 24;
    for (let index = 0; index < count; index++) {
      const { id, plaintext } = blob(index, MiB);
      await saver.add("data", id, plaintext);
    }
    await saver.flush();
    expect(saver.stats.blobsAdded).toBe(count);
    // 1 MiB chunks make batches of 4 MiB: two under way, where the batch count alone allows four.
    expect(maxBlobs()).toBeGreaterThan(0);
    expect(maxBlobs() * MiB).toBeLessThanOrEqual(IN_FLIGHT_BYTES);
  });

  it("keeps the same bounds with several files adding at once", async () => {
    const maxBlobs = countBlobsUnderWay();
    const saver = new BlobSaver(repo, cache);
    // Eight adders, as the walker's files in flight and the tree saver are: each one that
    // filled a batch while the saver waited for room used to start it past the bounds.
    const adders = 8;
    const perAdder = 6;
    await Promise.all(
      Array.from({ length: adders }, async (_, adder) => {
        for (let index = 0; index < perAdder; index++) {
          const { id, plaintext } = blob(adder * perAdder + index, MiB);
          await saver.add("data", id, plaintext);
        }
      }),
    );
    await saver.flush();
    expect(saver.stats.blobsAdded).toBe(adders * perAdder);
    expect(maxBlobs()).toBeGreaterThan(0);
    expect(maxBlobs() * MiB).toBeLessThanOrEqual(IN_FLIGHT_BYTES);
  });

  it("keeps at most MAX_BATCHES_IN_FLIGHT batches of small blobs under way with several adders", async () => {
    // Each batch asks the store once which blobs it lacks, first thing: a slow answer keeps
    // the batches under way, and the questions open at once count them.
    const missing = store.missing.bind(store);
    let questions = 0;
    let maxQuestions = 0;
    store.missing = async (ids: readonly BlobId[]) => {
      questions += 1;
      maxQuestions = Math.max(maxQuestions, questions);
      // Long enough for the adders to fill several 4096-blob batches on a busy machine.
      await new Promise((resolve) => setTimeout(resolve, 700));
      questions -= 1;
      return missing(ids);
    };
    const saver = new BlobSaver(repo, cache);
    // Blobs of 64 bytes: batches end at BATCH_BLOBS long before the byte bound.
    // Made beforehand, so that adding outpaces the store's answers.
    const adders = 8;
    const perAdder = 2600;
    const blobs = Array.from({ length: adders * perAdder }, (_, index) =>
      blob(index, 64),
    );
    await Promise.all(
      Array.from({ length: adders }, async (_, adder) => {
        for (let index = 0; index < perAdder; index++) {
          const { id, plaintext } = blobs[
            adder * perAdder + index
          ] as (typeof blobs)[number];
          await saver.add("data", id, plaintext);
        }
      }),
    );
    await saver.flush();
    expect(saver.stats.blobsAdded).toBe(adders * perAdder);
    expect(maxQuestions).toBeGreaterThan(1);
    expect(maxQuestions).toBeLessThanOrEqual(MAX_BATCHES_IN_FLIGHT);
  });

  it("counts every finished batch's plaintext and sealed bytes toward a collection", async () => {
    let collections = 0;
    const budget = 6 * MiB;
    const garbage = new GarbageBudget(budget, "minor", () => {
      collections += 1;
    });
    const saver = new BlobSaver(repo, cache, { garbage });
    for (let index = 0; index < 16; index++) {
      const { id, plaintext } = blob(index, MiB);
      await saver.add("data", id, plaintext);
    }
    await saver.flush();
    // Four batches of 4 MiB, each dropping its plaintext and as many sealed bytes: 8 MiB, past
    // the budget, so one collection each (plaintext alone would make two in all).
    expect(collections).toBe(4);
    expect(garbage.collections).toBe(collections);
    expect(garbage.pending).toBeLessThan(budget);
  });
});
