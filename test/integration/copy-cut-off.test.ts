/**
 * A copy cut off mid-upload (its destination stops answering, as when the copy is killed or
 * the connection drops) writes no snapshot and no record of what it copied, and the next run
 * finishes it without sending again the batch that was stored. In process, through the engine,
 * with a Store wrapper that fails the second upload: a kill at that point leaves the same.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runCopy } from "../../src/cli/commands/copy.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runRestore } from "../../src/cli/commands/restore.js";
import { copy } from "../../src/engine/index.js";
import { ClientCache, CopyIds, Repository } from "../../src/repo/index.js";
import {
  SqliteStore,
  resolveLocation,
  type Store,
} from "../../src/store/index.js";
import { testContext } from "../helpers/command-context.js";
import { withRepository } from "../helpers/repositories.js";
import { directoryDifferences } from "../helpers/trees.js";

const DESTINATION_PASSWORD = "the destination's own passphrase";
const FILE_BYTES = 3 * 1024 * 1024;

/** A store whose second `put` fails, as a copy killed or cut off mid-upload stops there. */
function failingSecondPut(store: Store): Store {
  let puts = 0;
  return new Proxy(store, {
    get(target, property): unknown {
      if (property === "put")
        return (blobs: Parameters<Store["put"]>[0]) => {
          puts += 1;
          return puts === 2
            ? Promise.reject(new Error("connection lost"))
            : target.put(blobs);
        };
      const value: unknown = Reflect.get(target, property, target);
      // Bound: the store's methods may use private fields, which a proxy as `this` lacks.
      return typeof value === "function"
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

let cleanup = (): void => undefined;
afterEach(() => {
  cleanup();
});

describe("copy()", () => {
  it("cut off mid-upload, it leaves no snapshot; the next copy finishes without sending the stored batch again", async () => {
    const made = testContext();
    cleanup = made.cleanup;
    const { context, dir } = made;
    const source = join(dir, "source");
    const from = join(dir, "from");
    const to = join(dir, "to");
    // Three batches at least (a batch is sent once it holds 4 MiB).
    mkdirSync(source);
    writeFileSync(join(source, "notes.txt"), "notes\n");
    for (const name of ["a.bin", "b.bin", "c.bin"])
      writeFileSync(join(source, name), randomBytes(FILE_BYTES));
    await runInit(context.with(), { repository: from });
    await runBackup(context.with(), { repository: from, sources: [source] });
    const copying = context.with({
      env: {
        BLINDSYNC_PASSWORD: DESTINATION_PASSWORD,
        BLINDSYNC_FROM_PASSWORD: context.env.BLINDSYNC_PASSWORD,
      },
    });
    await runInit(copying, { repository: to });

    const cacheRoot = context.globals.cacheDir as string;
    const locationKey = resolveLocation(to).key;
    await withRepository(from, async (sourceRepo) => {
      const store = await SqliteStore.open(to, {});
      try {
        const destination = await Repository.open(
          failingSecondPut(store),
          new TextEncoder().encode(DESTINATION_PASSWORD),
        );
        const cache = ClientCache.open(cacheRoot, locationKey);
        const ids = CopyIds.open(cacheRoot, locationKey, {
          sourceId: sourceRepo.id,
          sourceKeyCheck: sourceRepo.keyCheckValue,
          destinationId: destination.id,
          destinationKeyCheck: destination.keyCheckValue,
        });
        try {
          await expect(
            copy({
              source: sourceRepo,
              destination,
              cache,
              ids,
              snapshots: await sourceRepo.listSnapshots(),
              sink: {
                progress: () => undefined,
                skipped: () => undefined,
                copied: () => undefined,
                warn: () => undefined,
              },
            }),
          ).rejects.toThrow("connection lost");
          expect(await destination.listSnapshots()).toEqual([]);
        } finally {
          ids.close();
          cache.close();
        }
      } finally {
        await store.close();
      }
    });

    const again = await runCopy(copying, { from, to });
    expect(again.copied).toHaveLength(1);
    // The first batch (4 MiB at least) was stored before the failure and is not sent again.
    expect(again.bytesAdded).toBeLessThanOrEqual(
      3 * FILE_BYTES - 4 * 1024 * 1024,
    );
    const target = mkdtempSync(join(dir, "restored-"));
    await runRestore(copying, { repository: to, target });
    expect(directoryDifferences(source, target)).toEqual([]);
  });
});
