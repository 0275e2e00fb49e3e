import { randomBytes } from "node:crypto";
import { promises as fsp, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../errors.js";
import {
  ClientCache,
  Repository,
  headOf,
  type Snapshot,
} from "../repo/index.js";
import { SqliteStore, type Store } from "../store/index.js";
import { backup } from "./backup/index.js";
import { checkRepository } from "./check.js";
import { forget } from "./forget.js";
import { prune, type PruneSink } from "./prune.js";
import { restoreSnapshot } from "./restore/index.js";
import { withLock } from "./locking.js";

const PASSWORD = new TextEncoder().encode("prune test passphrase");
const FAST_KDF = { scrypt: { logN: 15, r: 8, p: 1 } };
const quiet = { progress: () => undefined, warn: () => undefined };

let work: string;
let store: Store;
let repo: Repository;
let cache: ClientCache;
let source: string;

beforeEach(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), "blindsync-prune-"));
  store = await SqliteStore.open(join(work, "repo"), { create: true });
  repo = await Repository.create(store, PASSWORD, FAST_KDF);
  cache = ClientCache.open(join(work, "cache"), "prune-test");
  source = join(work, "source");
  await fsp.mkdir(source);
});

afterEach(async () => {
  cache.close();
  await store.close();
  await fsp.rm(work, { recursive: true, force: true });
});

async function snapshotNow(
  extra: { beforeCommit?: () => Promise<void>; cache?: ClientCache } = {},
): Promise<Snapshot> {
  const result = await backup({
    repo,
    cache: extra.cache ?? cache,
    head: headOf(await repo.listSnapshots()),
    sources: [source],
    sink: quiet,
    ...(extra.beforeCommit === undefined
      ? {}
      : { beforeCommit: extra.beforeCommit }),
  });
  if (result.snapshot === undefined) throw new Error("no snapshot");
  return result.snapshot;
}

function recordingSink(): PruneSink & { waits: number } {
  const sink = {
    waits: 0,
    progress: () => undefined,
    waiting: () => {
      sink.waits += 1;
    },
  };
  return sink;
}

async function expectRestores(
  snapshot: Snapshot,
  expected: Record<string, Buffer>,
): Promise<void> {
  const target = await fsp.mkdtemp(join(work, "restore-"));
  const result = await restoreSnapshot({ repo, snapshot, target, sink: quiet });
  expect(result.errors).toBe(0);
  for (const [name, content] of Object.entries(expected)) {
    expect((await fsp.readFile(join(target, name))).equals(content), name).toBe(
      true,
    );
  }
}

async function expectHealthy(): Promise<void> {
  const report = await checkRepository({
    repo,
    snapshots: await repo.listSnapshots(),
    readData: "all",
    sink: { progress: () => undefined, problem: () => undefined },
  });
  expect(report.errors).toBe(0);
}

const repoFile = () => statSync(join(work, "repo", "blindsync.sqlite")).size;

describe("forget and prune", () => {
  it("prune deletes what no snapshot reaches, and the repository file shrinks by about that much", async () => {
    const big = randomBytes(6 * 1024 * 1024);
    await fsp.writeFile(join(source, "big.bin"), big);
    await fsp.writeFile(join(source, "small.txt"), "stays");
    await snapshotNow();
    await fsp.rm(join(source, "big.bin"));
    const second = await snapshotNow();
    const before = repoFile();
    const forgotten = await forget({
      repo,
      snapshots: await repo.listSnapshots(),
      policy: { keepLast: 1 },
    });
    expect(forgotten.removed).toBe(1);
    const result = await prune({ repo, sink: recordingSink(), lockWaitMs: 0 });
    expect(result.deletedBlobs).toBeGreaterThanOrEqual(5);
    expect(result.deletedBytes).toBeGreaterThan(6 * 1024 * 1024);
    const shrunk = before - repoFile();
    expect(shrunk).toBeGreaterThan(result.deletedBytes * 0.9);
    await expectHealthy();
    await expectRestores(second, { "small.txt": Buffer.from("stays") });
  });

  it("prune --dry-run deletes nothing", async () => {
    await fsp.writeFile(join(source, "a.bin"), randomBytes(100_000));
    await snapshotNow();
    await fsp.rm(join(source, "a.bin"));
    await snapshotNow();
    await forget({
      repo,
      snapshots: await repo.listSnapshots(),
      policy: { keepLast: 1 },
    });
    const before = repoFile();
    const dry = await prune({
      repo,
      sink: recordingSink(),
      lockWaitMs: 0,
      dryRun: true,
    });
    expect(dry.deletedBlobs).toBeGreaterThan(0);
    expect(repoFile()).toBe(before);
    expect(await store.generation()).toBe(0);
  });

  it("forget --prune during a backup that reuses the forgotten snapshot's blobs loses nothing", async () => {
    const reused = randomBytes(3 * 1024 * 1024);
    await fsp.writeFile(join(source, "reused.bin"), reused);
    await snapshotNow();
    // The second snapshot lacks the file, so only the first one holds its blobs.
    await fsp.rename(join(source, "reused.bin"), join(work, "aside.bin"));
    await snapshotNow();
    await fsp.rename(join(work, "aside.bin"), join(source, "reused.bin"));
    const sink = recordingSink();
    let pruning: Promise<unknown> | undefined;
    // The third backup finds the file's chunks in its cache and uploads none of them; just
    // before it commits, forget drops the only snapshot holding them and prune starts.
    const third = await snapshotNow({
      beforeCommit: async () => {
        await forget({
          repo,
          snapshots: await repo.listSnapshots(),
          policy: { keepLast: 1 },
        });
        pruning = prune({ repo, sink, lockWaitMs: 30_000 });
        while (sink.waits === 0)
          await new Promise((resolve) => setTimeout(resolve, 20));
      },
    });
    await pruning;
    expect(sink.waits).toBeGreaterThan(0);
    await expectHealthy();
    await expectRestores(third, { "reused.bin": reused });
  });

  it("a backup after a prune re-uploads chunks its cache remembered but prune deleted", async () => {
    const content = randomBytes(2 * 1024 * 1024);
    await fsp.writeFile(join(source, "comes-back.bin"), content);
    await snapshotNow();
    await fsp.rename(join(source, "comes-back.bin"), join(work, "aside.bin"));
    await snapshotNow();
    await forget({
      repo,
      snapshots: await repo.listSnapshots(),
      policy: { keepLast: 1 },
    });
    const pruned = await prune({ repo, sink: recordingSink(), lockWaitMs: 0 });
    expect(pruned.deletedBlobs).toBeGreaterThan(0);
    await fsp.rename(join(work, "aside.bin"), join(source, "comes-back.bin"));
    const after = await snapshotNow();
    await expectHealthy();
    await expectRestores(after, { "comes-back.bin": content });
  });

  it("prune with no wait fails with 'locked' naming the running backup", async () => {
    await withLock(
      store,
      { exclusive: false, owner: "backup, pid 123" },
      async () => {
        const attempt = prune({ repo, sink: recordingSink(), lockWaitMs: 0 });
        await expect(attempt).rejects.toSatisfy((error) =>
          isBlindsyncError(error, "locked"),
        );
        await expect(attempt).rejects.toThrow(/backup, pid 123/);
      },
    );
  });

  it("a backup during a prune fails with 'locked' and writes no snapshot", async () => {
    await fsp.writeFile(join(source, "x"), "x");
    await withLock(
      store,
      { exclusive: true, owner: "prune, pid 9" },
      async () => {
        await expect(snapshotNow()).rejects.toSatisfy((error) =>
          isBlindsyncError(error, "locked"),
        );
      },
    );
    expect(await repo.listSnapshots()).toHaveLength(0);
  });

  it("prune deletes snapshot blobs that do not authenticate, and keeps every real snapshot", async () => {
    await fsp.writeFile(join(source, "x"), "x");
    const kept = await snapshotNow();
    const garbageId = new Uint8Array(randomBytes(32));
    await store.put([
      {
        id: garbageId,
        kind: "snapshot",
        bytes: new Uint8Array(randomBytes(200)),
      },
    ]);
    const warnings: string[] = [];
    const reopened = await Repository.open(store, PASSWORD, undefined, {
      onWarning: (message) => warnings.push(message),
    });
    expect(await reopened.listSnapshots()).toHaveLength(1);
    expect(warnings.join("\n")).toMatch(/snapshot blob [0-9a-f]{16} skipped/);
    const dry = await prune({
      repo,
      sink: recordingSink(),
      lockWaitMs: 0,
      dryRun: true,
    });
    expect(dry.undecodableSnapshots).toBe(1);
    expect(await store.missing([garbageId])).toHaveLength(0);
    const result = await prune({ repo, sink: recordingSink(), lockWaitMs: 0 });
    expect(result.undecodableSnapshots).toBe(1);
    expect(result.deletedBlobs).toBe(1);
    expect(await store.missing([garbageId])).toHaveLength(1);
    expect((await repo.readSnapshots()).undecodable).toStrictEqual([]);
    await expectHealthy();
    await expectRestores(kept, { x: Buffer.from("x") });
  });

  it("forget keeps the head of the chain whatever the policy says", async () => {
    await fsp.writeFile(join(source, "x"), "x");
    await snapshotNow();
    const head = await snapshotNow();
    const result = await forget({
      repo,
      snapshots: await repo.listSnapshots(),
      policy: { keepTags: ["nope"] },
    });
    const kept = result.decisions.filter((decision) => decision.keep);
    expect(kept.map((decision) => decision.snapshot.seq)).toEqual([head.seq]);
    expect(kept[0]?.reasons).toEqual(["head of the chain"]);
  });
});
