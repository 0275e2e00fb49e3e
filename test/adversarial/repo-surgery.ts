/**
 * Raw edits of a local repository's SQLite file, as a hostile or broken server could make them
 * (docs/storage.md: `blobs(id, kind, length, sha256, data_id)` and `blob_data(rowid, data)`),
 * plus the independent bookkeeping the adversarial tests compare blindsync's answers with: which
 * file uses which data blob, read through the library rather than through `check`.
 */
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, readdirSync, lstatSync } from "node:fs";
import { mkdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect } from "vitest";
import { Repository } from "../../src/repo/index.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { TEST_PASSWORD, runCli } from "../helpers/cli.js";
import {
  describeTree,
  seededBytes,
  treeDifferences,
  type Described,
} from "../helpers/trees.js";

export const DATABASE_FILE = "blindsync.sqlite";

/** Kinds as the `blobs.kind` column stores them. */
export const KIND = { data: 0, tree: 1, snapshot: 2 } as const;

export interface BlobRow {
  readonly id: Buffer;
  readonly kind: number;
  readonly length: number;
  readonly data_id: number;
}

export function databaseOf(repo: string): string {
  return join(repo, DATABASE_FILE);
}

function withDb<T>(repo: string, work: (db: Database.Database) => T): T {
  const db = new Database(databaseOf(repo));
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** Every blob row of `kind` (all kinds when omitted), ordered by id. */
export function blobRows(repo: string, kind?: number): BlobRow[] {
  return withDb(repo, (db) =>
    kind === undefined
      ? (db
          .prepare("SELECT id, kind, length, data_id FROM blobs ORDER BY id")
          .all() as BlobRow[])
      : (db
          .prepare(
            "SELECT id, kind, length, data_id FROM blobs WHERE kind = ? ORDER BY id",
          )
          .all(kind) as BlobRow[]),
  );
}

export function readStored(repo: string, id: Uint8Array): Buffer {
  return withDb(repo, (db) => {
    const data = db
      .prepare(
        "SELECT d.data FROM blobs b JOIN blob_data d ON d.rowid = b.data_id WHERE b.id = ?",
      )
      .pluck()
      .get(id) as Buffer | undefined;
    if (data === undefined) throw new Error("no such blob row");
    return data;
  });
}

/**
 * Replaces the stored bytes of blob `id`, and its recorded length, as a server that rewrites
 * rows would. The recorded SHA-256 is left alone: the client never reads it.
 */
export function writeStored(
  repo: string,
  id: Uint8Array,
  bytes: Uint8Array,
): void {
  withDb(repo, (db) => {
    db.transaction(() => {
      const dataId = db
        .prepare("SELECT data_id FROM blobs WHERE id = ?")
        .pluck()
        .get(id) as number | undefined;
      if (dataId === undefined) throw new Error("no such blob row");
      db.prepare("UPDATE blob_data SET data = ? WHERE rowid = ?").run(
        bytes,
        dataId,
      );
      db.prepare("UPDATE blobs SET length = ? WHERE id = ?").run(
        bytes.length,
        id,
      );
    })();
  });
}

/** Deletes blob rows and their bytes, as a server that lost or dropped them. */
export function deleteBlobRows(repo: string, ids: readonly Uint8Array[]): void {
  withDb(repo, (db) => {
    db.transaction(() => {
      for (const id of ids) {
        const dataId = db
          .prepare("DELETE FROM blobs WHERE id = ? RETURNING data_id")
          .pluck()
          .get(id) as number | undefined;
        if (dataId === undefined) throw new Error("no such blob row");
        db.prepare("DELETE FROM blob_data WHERE rowid = ?").run(dataId);
      }
    })();
  });
}

/** Copies a repository directory (the database file alone: rollback mode keeps it complete). */
export async function copyRepository(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  copyFileSync(databaseOf(from), databaseOf(to));
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Names of every entry in a directory, recursively (relative paths), for "nothing new" checks. */
export function listAll(root: string, prefix = ""): string[] {
  const names: string[] = [];
  for (const name of readdirSync(join(root, prefix))) {
    const rel = prefix === "" ? name : `${prefix}/${name}`;
    names.push(rel);
    if (lstatSync(join(root, rel)).isDirectory())
      names.push(...listAll(root, rel));
  }
  return names;
}

/** mulberry32: a small seeded PRNG, so every damaged case can be replayed from its seed. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min));
  }

  /** `count` distinct items of `items`, in random order. */
  pick<T>(items: readonly T[], count: number): T[] {
    if (count > items.length)
      throw new Error(`cannot pick ${count} of ${items.length}`);
    const copy = [...items];
    for (let index = copy.length - 1; index > 0; index--) {
      const other = this.int(0, index + 1);
      const swap = copy[index] as T;
      copy[index] = copy[other] as T;
      copy[other] = swap;
    }
    return copy.slice(0, count);
  }
}

export interface RepositoryLayout {
  /** Hex id of each data blob → the file paths (relative to the snapshot root) that use it. */
  readonly dataUsers: Map<string, string[]>;
  /** Hex id of each tree → the directory paths it is ("" for the root). */
  readonly treeUsers: Map<string, string[]>;
  /** Hex ids of the snapshots, oldest first. */
  readonly snapshots: string[];
}

/**
 * Reads, with the passphrase and the library (not `check`), which file uses which data blob and
 * which directory is which tree, in every snapshot. Run it on an undamaged repository.
 */
export async function readLayout(repo: string): Promise<RepositoryLayout> {
  const store = await SqliteStore.open(repo, { readonly: true });
  try {
    const repository = await Repository.open(
      store,
      new TextEncoder().encode(TEST_PASSWORD),
    );
    const dataUsers = new Map<string, string[]>();
    const treeUsers = new Map<string, string[]>();
    const add = (map: Map<string, string[]>, id: Uint8Array, path: string) => {
      const key = Buffer.from(id).toString("hex");
      const list = map.get(key) ?? [];
      if (!list.includes(path)) list.push(path);
      map.set(key, list);
    };
    const visit = async (id: Uint8Array, path: string): Promise<void> => {
      add(treeUsers, id, path);
      const tree = await repository.loadTree(id);
      for (const entry of tree.entries) {
        const name = Buffer.from(entry.name).toString("utf8");
        const child = path === "" ? name : `${path}/${name}`;
        if (entry.type === "dir") await visit(entry.subtree, child);
        else if (entry.type === "file")
          for (const blob of entry.content) add(dataUsers, blob, child);
      }
    };
    const snapshots = await repository.listSnapshots();
    for (const snapshot of snapshots) await visit(snapshot.tree, "");
    return {
      dataUsers,
      treeUsers,
      snapshots: snapshots.map((s) => Buffer.from(s.id).toString("hex")),
    };
  } finally {
    await store.close();
  }
}

/** Temporary files a restore may have left behind (`.blindsync-<hex>.tmp`). */
export function restoreDebris(target: string): string[] {
  return listAll(target).filter((path) =>
    /(^|\/)\.blindsync-[0-9a-f]+\.tmp$/.test(path),
  );
}

/** True when a CLI's stderr is a clean failure: no stack trace, no "unexpected error". */
export function isCleanError(stderr: string): boolean {
  return (
    stderr.trim().length > 0 &&
    !/^\s+at /m.test(stderr) &&
    !/unexpected error/.test(stderr)
  );
}

/**
 * A source tree of many small files (each below the chunker's minimum, so each is exactly one
 * data blob) in flat subdirectories `dir00`…, half compressible text and half random bytes, plus
 * one file duplicated in two directories (one blob, two users). Returns the file paths.
 */
export async function buildManyFilesTree(
  root: string,
  options: { files: number; dirs: number; seed: number },
): Promise<string[]> {
  const prng = new Prng(options.seed);
  const paths: string[] = [];
  for (let dir = 0; dir < options.dirs; dir++)
    await mkdir(join(root, dirName(dir)), { recursive: true });
  for (let index = 0; index < options.files; index++) {
    const dir = dirName(index % options.dirs);
    const path = `${dir}/f${String(index).padStart(3, "0")}.bin`;
    const size = prng.int(1, 24 * 1024);
    const content =
      index % 2 === 0
        ? Buffer.from(
            `file ${index}: ${"all work and no play ".repeat(Math.ceil(size / 21))}`,
          ).subarray(0, Math.max(size, 12))
        : seededBytes(options.seed * 1000 + index + 1, size);
    await writeFile(join(root, path), content);
    paths.push(path);
  }
  const shared = seededBytes(options.seed + 77, 5000);
  await writeFile(join(root, dirName(0), "dup-a"), shared);
  await writeFile(join(root, dirName(1 % options.dirs), "dup-b"), shared);
  await writeFile(join(root, "top.txt"), "a file at the root\n");
  paths.push(`${dirName(0)}/dup-a`, `${dirName(1 % options.dirs)}/dup-b`);
  paths.push("top.txt");
  return paths;
}

function dirName(index: number): string {
  return `dir${String(index).padStart(2, "0")}`;
}

/**
 * A copy of `source` with the same directories and file names but other contents ("an older
 * copy" a restore runs over in place).
 */
export async function buildStaleCopy(
  source: string,
  target: string,
): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const rel of listAll(source)) {
    const from = join(source, rel);
    if (lstatSync(from).isDirectory()) {
      await mkdir(join(target, rel), { recursive: true });
    } else {
      await writeFile(join(target, rel), `stale copy of ${rel}\n`);
      await utimes(join(target, rel), 1_000_000_000, 1_000_000_000);
    }
  }
}

/** True when `key` (describeTree's hex of a relative path) is `path` or lies below it. */
function isAtOrBelow(key: string, path: string): boolean {
  const rel = Buffer.from(key, "hex").toString("utf8");
  return rel === path || rel.startsWith(`${path}/`);
}

/**
 * What a restore should have produced when `damaged` paths (files, or directories with all they
 * hold) could not be restored: the source everywhere else, and at the damaged paths what the
 * target held before (`before`), or nothing for a fresh target.
 */
export function expectedAfterDamage(
  source: Map<string, Described>,
  damaged: readonly string[],
  before: Map<string, Described> | undefined,
): Map<string, Described> {
  const hit = (key: string) => damaged.some((path) => isAtOrBelow(key, path));
  const expected = new Map<string, Described>();
  for (const [key, value] of source) if (!hit(key)) expected.set(key, value);
  if (before !== undefined)
    for (const [key, value] of before) if (hit(key)) expected.set(key, value);
  return expected;
}

export interface JsonProblem {
  readonly type: "problem";
  readonly kind: string;
  readonly severity: "error" | "warning";
  readonly id: string;
  readonly blobKind?: string;
  readonly reason: string;
  readonly paths: string[];
  readonly morePaths: number;
  readonly snapshots: string[];
}

/** The problem objects of `blindsync --json check` output. */
export function jsonProblems(stdout: string): JsonProblem[] {
  return stdout
    .trim()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { type: string })
    .filter((object): object is JsonProblem => object.type === "problem");
}

/**
 * Restores `repo` into the new directory `target` through the CLI and asserts what every damage
 * case expects of it: exit 13, a clean one-line error naming each damaged file, no temporary
 * debris, and every other file exactly as `source` describes it.
 */
export async function expectRestoreSkipsDamaged(options: {
  readonly repo: string;
  readonly target: string;
  readonly cacheDir: string;
  readonly source: Map<string, Described>;
  readonly damagedPaths: readonly string[];
}): Promise<void> {
  const restore = await runCli(["restore", options.repo, options.target], {
    cacheDir: options.cacheDir,
  });
  expect(restore.code, restore.stderr).toBe(13);
  expect(isCleanError(restore.stderr)).toBe(true);
  for (const path of options.damagedPaths)
    expect(restore.stderr).toContain(path);
  expect(restoreDebris(options.target)).toStrictEqual([]);
  expect(
    treeDifferences(
      expectedAfterDamage(options.source, [...options.damagedPaths], undefined),
      describeTree(options.target),
    ),
  ).toStrictEqual([]);
}
