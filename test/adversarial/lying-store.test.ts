/**
 * T8 of the adversarial suite: a store that answers "have" for blobs it does not hold.
 *
 * A real server cannot be made to lie on cue, so the lie is a Store → Store wrapper around an
 * honest SqliteStore: its `missing()` leaves out the ids it is told to lie about, and everything
 * else is passed through. The real backup engine runs through it with a fresh client cache (so
 * that the client relies on `missing()` alone), then the honest store shows what was really
 * stored.
 *
 * The trust placed in have/need, as this test establishes it:
 *
 * - `missing()` is the one answer blindsync takes from the store without proof. Backup asks it
 *   (after its own cache) which blobs to upload; a blob the store claims to have is not sent,
 *   and the backup reports success. No client can detect, without reading the blob back, that
 *   a store lied about holding it. The client cache then remembers the blob as present, so
 *   later backups with that cache do not upload it either; a backup with a fresh cache asks
 *   again and an honest store gets it (tested below).
 * - `check` without --read-data asks `missing()` too (batched, for speed) about data blobs, so
 *   it trusts the same answer: through the liar it finds nothing (tested below, as the
 *   documented limit). Trees and snapshots are always fetched and authenticated.
 * - `check --read-data` and `restore` fetch every data blob with `get()`; a blob that is not
 *   there is `not-found`, reported as missing with every file that needs it, through the liar
 *   as well as through the honest store. A lie never turns into wrong data: what `get()`
 *   returns is authenticated, and the id is re-derived from the plaintext.
 *
 * So proving a backup on an untrusted server takes `check --read-data` (or rotating
 * `--read-data-subset n/t` runs), which is what the pass condition asks.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../../src/util/bytes.js";
import {
  checkRepository,
  type CheckReport,
  type ReadDataSelection,
} from "../../src/engine/check.js";
import { backup, restoreSnapshot } from "../../src/engine/index.js";
import {
  ClientCache,
  Repository,
  type Snapshot,
} from "../../src/repo/index.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  Store,
} from "../../src/store/index.js";
import { jsonProblems, runCli } from "../helpers/cli.js";
import { TEST_PASSPHRASE } from "../helpers/constants.js";
import { count } from "../helpers/counts.js";
import { expectedAfterDamage } from "../helpers/damage.js";
import { Prng } from "../helpers/prng.js";
import { createRepository } from "../helpers/repositories.js";
import {
  buildManyFilesTree,
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

const T8_LIES = count(5, 20);
const FILES = T8_LIES + 15;

/** A store that claims to hold the blobs `lieAbout` selects (or all blobs) when it does not. */
class LyingStore implements Store {
  /** Ids (hex) it actually lied about: asked, absent, and answered "have". */
  readonly lies = new Set<string>();

  constructor(
    private readonly inner: Store,
    private readonly lieAbout: (id: BlobId) => boolean,
  ) {}

  get appendOnly(): boolean {
    return this.inner.appendOnly;
  }

  async missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    const absent = await this.inner.missing(ids);
    return absent.filter((id) => {
      if (!this.lieAbout(id)) return true;
      this.lies.add(toHex(id));
      return false;
    });
  }

  readConfig(): Promise<Uint8Array> {
    return this.inner.readConfig();
  }
  listKeySlots(): Promise<KeySlot[]> {
    return this.inner.listKeySlots();
  }
  get(id: BlobId): Promise<Uint8Array> {
    return this.inner.get(id);
  }
  list(kind?: BlobKind): AsyncIterable<BlobInfo> {
    return this.inner.list(kind);
  }
  generation(): Promise<number> {
    return this.inner.generation();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    return this.inner.create(config, firstKeySlot);
  }
  addKeySlot(slot: KeySlot): Promise<void> {
    return this.inner.addKeySlot(slot);
  }
  removeKeySlot(name: string): Promise<void> {
    return this.inner.removeKeySlot(name);
  }
  put(blobs: readonly BlobToPut[]): Promise<void> {
    return this.inner.put(blobs);
  }
  delete(ids: readonly BlobId[]): Promise<void> {
    return this.inner.delete(ids);
  }
  acquireLock(request: LockRequest): Promise<LockAttempt> {
    return this.inner.acquireLock(request);
  }
  refreshLock(id: string, leaseMs: number): Promise<void> {
    return this.inner.refreshLock(id, leaseMs);
  }
  releaseLock(id: string): Promise<void> {
    return this.inner.releaseLock(id);
  }
  removeLocks(all: boolean): Promise<LocksRemoved> {
    return this.inner.removeLocks(all);
  }
  bumpGeneration(): Promise<number> {
    return this.inner.bumpGeneration();
  }
  compact(): Promise<void> {
    return this.inner.compact();
  }
}

const quiet = { progress: () => undefined, warn: () => undefined };

async function check(
  repo: Repository,
  readData: ReadDataSelection,
): Promise<CheckReport> {
  return checkRepository({
    repo,
    snapshots: await repo.listSnapshots(),
    readData,
    sink: { progress: () => undefined, problem: () => undefined },
  });
}

describe("a store that answers 'have' for blobs it lacks (T8)", () => {
  let work: string;
  let source: string;
  let repoDir: string;
  let honest: SqliteStore;
  let honestRepo: Repository;
  let liar: LyingStore;
  let snapshot: Snapshot;
  /** Hex id of each lied-about blob → the file that needed it. */
  const victims = new Map<string, string>();

  beforeAll(async () => {
    work = await tempDir("blindsync-lying-");
    source = join(work, "source");
    repoDir = join(work, "repo");
    const files = await buildManyFilesTree(source, {
      files: FILES,
      dirs: 4,
      seed: 9,
    });
    ({ store: honest, repo: honestRepo } = await createRepository(repoDir));
    // Every file is smaller than the chunker's minimum: one blob, whose id is the keyed hash
    // of the whole file. The duplicated pair is left out so each lie costs exactly one file.
    const candidates = files.filter((path) => !path.includes("dup-"));
    for (const path of new Prng(0x7801).pick(candidates, T8_LIES)) {
      const id = honestRepo.blobId(readFileSync(join(source, path)));
      victims.set(toHex(id), path);
    }
    liar = new LyingStore(honest, (id) => victims.has(toHex(id)));
    const lyingRepo = await Repository.open(liar, TEST_PASSPHRASE);
    const cache = ClientCache.open(join(work, "fresh-cache"), "lying-store");
    try {
      const result = await backup({
        repo: lyingRepo,
        cache,
        head: undefined,
        sources: [source],
        sink: quiet,
      });
      if (result.snapshot === undefined) throw new Error("no snapshot");
      snapshot = result.snapshot;
      // The backup cannot know: it reports success, having skipped exactly the lied-about blobs.
      expect(result.warnings).toBe(0);
      expect(result.files).toBe(FILES + 3);
    } finally {
      cache.close();
    }
  });

  afterAll(async () => {
    await honest.close();
    await removeDir(work);
  });

  it(`the lie took effect: ${T8_LIES} blobs were claimed, never uploaded, and are absent`, async () => {
    expect([...liar.lies].sort()).toStrictEqual([...victims.keys()].sort());
    const absent = await honest.missing(
      [...victims.keys()].map((id) => Buffer.from(id, "hex")),
    );
    expect(absent).toHaveLength(T8_LIES);
  });

  it("check --read-data on the honest store flags every lied-about blob as missing, with its file", async () => {
    for (const readData of ["all", "none"] as const) {
      const report = await check(honestRepo, readData);
      expect(report.errors).toBe(T8_LIES);
      const found = new Map(
        report.problems.map((problem) => [
          problem.id,
          problem.paths.map((path) => Buffer.from(path).toString("utf8")),
        ]),
      );
      expect([...found.keys()].sort()).toStrictEqual(
        [...victims.keys()].sort(),
      );
      for (const problem of report.problems)
        expect(problem.kind).toBe("missing-blob");
      for (const [id, path] of victims)
        expect(found.get(id)).toStrictEqual([path]);
    }
  });

  it("check --read-data through the lying store itself still flags every one; only the structure check is fooled", async () => {
    const lyingRepo = await Repository.open(liar, TEST_PASSPHRASE);
    const withData = await check(lyingRepo, "all");
    expect(withData.problems.map((problem) => problem.id).sort()).toStrictEqual(
      [...victims.keys()].sort(),
    );
    // The documented limit: without reading data, check trusts the store's presence answers.
    const structure = await check(lyingRepo, "none");
    expect(structure.errors).toBe(0);
  });

  it("restore fails for exactly those files with a non-zero error count, and restores the rest", async () => {
    const target = join(work, "restored");
    const warnings: string[] = [];
    const result = await restoreSnapshot({
      repo: honestRepo,
      snapshot,
      target,
      sink: { progress: () => undefined, warn: (line) => warnings.push(line) },
    });
    expect(result.errors).toBe(T8_LIES);
    for (const path of victims.values())
      expect(warnings.some((line) => line.includes(path))).toBe(true);
    expect(
      treeDifferences(
        expectedAfterDamage(
          describeTree(source),
          [...victims.values()],
          undefined,
        ),
        describeTree(target),
      ),
    ).toStrictEqual([]);
  });

  it("the CLI on the honest repository: check --read-data and restore exit 13", async () => {
    const cacheDir = join(work, "cli-cache");
    const checked = await runCli(["--json", "check", "--read-data", repoDir], {
      cacheDir,
    });
    expect(checked.code, checked.stderr).toBe(13);
    expect(
      jsonProblems(checked.stdout)
        .map((problem) => problem.id)
        .sort(),
    ).toStrictEqual([...victims.keys()].sort());
    const restored = await runCli(
      ["restore", repoDir, join(work, "cli-restored")],
      { cacheDir },
    );
    expect(restored.code, restored.stderr).toBe(13);
  });
});

describe("a store that answers 'have' for every blob (T8)", () => {
  let work: string;

  beforeAll(async () => {
    work = await tempDir("blindsync-lying-all-");
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("the backup stores only its snapshot; check names the missing root tree and restore fails", async () => {
    const source = join(work, "source");
    await buildManyFilesTree(source, { files: 5, dirs: 2, seed: 10 });
    const repoDir = join(work, "repo");
    const { store: honest } = await createRepository(repoDir);
    try {
      const liar = new LyingStore(honest, () => true);
      const cache = ClientCache.open(join(work, "fresh-cache"), "lying-all");
      let snapshot: Snapshot | undefined;
      try {
        const result = await backup({
          repo: await Repository.open(liar, TEST_PASSPHRASE),
          cache,
          head: undefined,
          sources: [source],
          sink: quiet,
        });
        snapshot = result.snapshot;
        expect(result.blobsAdded).toBe(0);
      } finally {
        cache.close();
      }
      if (snapshot === undefined) throw new Error("no snapshot");
      const kinds: string[] = [];
      for await (const info of honest.list()) kinds.push(info.kind);
      expect(kinds).toStrictEqual(["snapshot"]);

      const honestRepo = await Repository.open(honest, TEST_PASSPHRASE);
      const report = await check(honestRepo, "all");
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({
        kind: "missing-blob",
        blobKind: "tree",
        id: toHex(snapshot.tree),
      });
      await expect(
        restoreSnapshot({
          repo: honestRepo,
          snapshot,
          target: join(work, "restored"),
          sink: quiet,
        }),
      ).rejects.toMatchObject({ kind: "not-found" });
    } finally {
      await honest.close();
    }
    const cli = await runCli(["check", repoDir], {
      cacheDir: join(work, "cli-cache"),
    });
    expect(cli.code, cli.stderr).toBe(13);
    expect(cli.stdout).toMatch(
      /^missing tree blob [0-9a-f]{8}: not in the store; directories: \//m,
    );
  });
});

describe("repairing after a lie (T8)", () => {
  let work: string;

  beforeAll(async () => {
    work = await tempDir("blindsync-lying-repair-");
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("a backup to the honest store with a fresh cache uploads the missing blobs, and then every snapshot checks clean", async () => {
    const source = join(work, "source");
    const files = await buildManyFilesTree(source, {
      files: 8,
      dirs: 2,
      seed: 11,
    });
    const repoDir = join(work, "repo");
    const { store: honest, repo: created } = await createRepository(repoDir);
    try {
      const lied = toHex(
        created.blobId(readFileSync(join(source, files[0] ?? ""))),
      );
      const liar = new LyingStore(honest, (id) => toHex(id) === lied);
      const run = async (store: Store, cacheName: string) => {
        const repo = await Repository.open(store, TEST_PASSPHRASE);
        const cache = ClientCache.open(join(work, cacheName), "repair");
        try {
          const snapshots = await repo.listSnapshots();
          await backup({
            repo,
            cache,
            head: snapshots.at(-1),
            sources: [source],
            sink: quiet,
          });
        } finally {
          cache.close();
        }
      };
      await run(liar, "cache-a");
      const honestRepo = await Repository.open(honest, TEST_PASSPHRASE);
      expect((await check(honestRepo, "all")).errors).toBe(1);
      await run(honest, "cache-b");
      const after = await check(honestRepo, "all");
      expect(after.snapshots).toBe(2);
      expect(after.problems).toStrictEqual([]);
    } finally {
      await honest.close();
    }
  });
});
