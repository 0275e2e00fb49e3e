import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../store/index.js";
import { describeInterruptedBackup } from "./commands/backup.js";
import { Interrupts } from "./interrupt.js";

const exclusive = { owner: "prune", leaseMs: 60_000, exclusive: true };
const shared = { owner: "backup", leaseMs: 60_000, exclusive: false };

/** Whether `promise` settles within `ms`. */
async function settles(promise: Promise<unknown>, ms = 200): Promise<boolean> {
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    sleep(ms).then(() => false),
  ]);
}

describe("Interrupts", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function repository(): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), "blindsync-interrupt-"));
    const path = join(dir, "repo");
    await (await SqliteStore.open(path, { create: true })).close();
    return path;
  }

  it("releases the lease, runs the clean-ups, closes the store and answers 130 for SIGINT", async () => {
    const path = await repository();
    const interrupts = new Interrupts();
    const store = interrupts.guard(
      await SqliteStore.open(path, { create: false }),
    );
    expect((await store.acquireLock(shared)).acquired).toBe(true);
    const cleaned: string[] = [];
    interrupts.onInterrupt(() => cleaned.push("backup lock"));
    const said: string[] = [];

    const code = await interrupts.interrupt("SIGINT", (line) =>
      said.push(line),
    );
    expect(code).toBe(130);
    expect(interrupts.signal).toBe("SIGINT");
    expect(cleaned).toEqual(["backup lock"]);
    expect(said).toEqual([
      "Interrupted by SIGINT: stopped before finishing, and the repository lock is released (run the command again to finish)",
    ]);
    const other = await SqliteStore.open(path, { create: false });
    try {
      expect((await other.acquireLock(exclusive)).acquired).toBe(true);
    } finally {
      await other.close();
    }
    // Closed by the interruption; the command's own close later is harmless.
    await expect(store.close()).resolves.toBeUndefined();
  });

  it("answers 143 for SIGTERM, once, whatever the second call says", async () => {
    const interrupts = new Interrupts();
    const first = interrupts.interrupt("SIGTERM", () => undefined);
    const second = interrupts.interrupt("SIGINT", () => undefined);
    expect(await first).toBe(143);
    expect(await second).toBe(143);
    expect(interrupts.signal).toBe("SIGTERM");
  });

  it("after the signal a store answers nothing, so nothing more is written", async () => {
    const path = await repository();
    const interrupts = new Interrupts();
    const store = interrupts.guard(
      await SqliteStore.open(path, { create: false }),
    );
    const underway = interrupts.interrupt("SIGINT", () => undefined);
    const put = store.put([
      { id: new Uint8Array(32), kind: "snapshot", bytes: new Uint8Array(8) },
    ]);
    expect(await settles(put)).toBe(false);
    expect(await settles(store.generation())).toBe(false);
    const next = store.list()[Symbol.asyncIterator]().next();
    expect(await settles(next)).toBe(false);
    await underway;
    const after = await SqliteStore.open(path, { create: false });
    try {
      const listed = [];
      for await (const blob of after.list()) listed.push(blob);
      expect(listed).toEqual([]);
    } finally {
      await after.close();
    }
  });

  it("a backup's message says no snapshot was written, or that one was being saved", async () => {
    const path = await repository();
    const interrupts = new Interrupts();
    const forget = interrupts.describeWith(describeInterruptedBackup);
    const store = interrupts.guard(
      await SqliteStore.open(path, { create: false }),
    );
    await store.acquireLock(shared);
    const said: string[] = [];
    await interrupts.interrupt("SIGINT", (line) => said.push(line));
    forget();
    expect(said[0]).toMatch(
      /^Backup interrupted by SIGINT: no snapshot was written\. Nothing is lost: .* the next backup reuses it .*; the repository lock is released$/,
    );

    const sent = new Interrupts();
    sent.describeWith(describeInterruptedBackup);
    const other = sent.guard(await SqliteStore.open(path, { create: false }));
    await other.put([
      { id: new Uint8Array(32), kind: "snapshot", bytes: new Uint8Array(8) },
    ]);
    const words: string[] = [];
    await sent.interrupt("SIGTERM", (line) => words.push(line));
    expect(words[0]).toMatch(
      /^Backup interrupted by SIGTERM while its snapshot was being saved/,
    );
  });

  it("without a lock or a command's words it says only which signal came", async () => {
    const interrupts = new Interrupts();
    interrupts.describeWith(describeInterruptedBackup)();
    const said: string[] = [];
    await interrupts.interrupt("SIGINT", (line) => said.push(line));
    expect(said).toEqual(["Interrupted by SIGINT"]);
  });
});
