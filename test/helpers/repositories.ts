/**
 * Making test repositories: through the built CLI (a case directory with its repository, source
 * and cache, or a pristine repository to damage copies of), or in process with the library and
 * the test passphrase; and reading what a repository holds with the keys, independently of
 * `check`.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { Repository } from "../../src/repo/index.js";
import { SqliteStore } from "../../src/store/index.js";
import { toHex } from "../../src/util/bytes.js";
import { runCli, type CliResult } from "./cli.js";
import { FAST_SCRYPT, KIND, TEST_PASSPHRASE } from "./constants.js";
import { blobRows } from "./database.js";
import { buildManyFilesTree, describeTree, type Described } from "./trees.js";

/** Runs `blindsync init REPO` and asserts that it succeeded. */
export async function initRepository(
  repo: string,
  cacheDir: string,
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  const init = await runCli(["init", repo], { cacheDir, env });
  expect(init.code, init.stderr).toBe(0);
  return init;
}

/** One test case's directory: a repository, a source tree and a client cache below `dir`. */
export interface RepositoryCase {
  readonly dir: string;
  readonly repo: string;
  readonly source: string;
  readonly cacheDir: string;
  /** The built CLI with this case's cache (or `cacheDir`, another client's). */
  readonly cli: (
    args: readonly string[],
    cacheDir?: string,
  ) => Promise<CliResult>;
}

/** The paths of a case below `dir`; nothing is created. */
export function repositoryCase(dir: string): RepositoryCase {
  const cacheDir = join(dir, "cache");
  return {
    dir,
    repo: join(dir, "repo"),
    source: join(dir, "source"),
    cacheDir,
    cli: (args, cache = cacheDir) => runCli(args, { cacheDir: cache }),
  };
}

/** A case below `dir` with an empty source directory and a repository made by `init`. */
export async function initRepositoryCase(dir: string): Promise<RepositoryCase> {
  const made = repositoryCase(dir);
  await mkdir(made.source, { recursive: true });
  await initRepository(made.repo, made.cacheDir);
  return made;
}

/** A new SQLite repository in directory `dir`, made in process at the test KDF cost. */
export async function createRepository(
  dir: string,
  passphrase: Uint8Array = TEST_PASSPHRASE,
): Promise<{ store: SqliteStore; repo: Repository }> {
  const store = await SqliteStore.open(dir, { create: true });
  const repo = await Repository.create(store, passphrase, {
    scrypt: FAST_SCRYPT,
  });
  return { store, repo };
}

/** Opens the repository in directory `dir` with the test passphrase, runs `work`, closes it. */
export async function withRepository<T>(
  dir: string,
  work: (repo: Repository, store: SqliteStore) => Promise<T>,
  options: { readonly?: boolean } = {},
): Promise<T> {
  const store = await SqliteStore.open(dir, {
    readonly: options.readonly === true,
  });
  try {
    return await work(await Repository.open(store, TEST_PASSPHRASE), store);
  } finally {
    await store.close();
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
export function readLayout(dir: string): Promise<RepositoryLayout> {
  return withRepository(
    dir,
    async (repository) => {
      const dataUsers = new Map<string, string[]>();
      const treeUsers = new Map<string, string[]>();
      const add = (
        map: Map<string, string[]>,
        id: Uint8Array,
        path: string,
      ) => {
        const key = toHex(id);
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
        snapshots: snapshots.map((s) => toHex(s.id)),
      };
    },
    { readonly: true },
  );
}

/** A repository holding one backup of a many-files tree, for tests that damage copies of it. */
export interface PristineRepository {
  readonly source: string;
  readonly repo: string;
  /** Which file uses which blob, read before any damage. */
  readonly layout: RepositoryLayout;
  readonly sourceTree: Map<string, Described>;
  /** Hex ids of the data blobs, in id order. */
  readonly dataIds: string[];
}

/**
 * Builds `work/source` (buildManyFilesTree) and backs it up through the CLI into the new
 * repository `work/pristine`.
 */
export async function pristineRepository(
  work: string,
  tree: { files: number; dirs: number; seed: number },
): Promise<PristineRepository> {
  const source = join(work, "source");
  const repo = join(work, "pristine");
  await buildManyFilesTree(source, tree);
  const cacheDir = join(work, "cache");
  await initRepository(repo, cacheDir);
  const backup = await runCli(["backup", source, repo], { cacheDir });
  expect(backup.code, backup.stderr).toBe(0);
  return {
    source,
    repo,
    layout: await readLayout(repo),
    sourceTree: describeTree(source),
    dataIds: blobRows(repo, KIND.data).map((row) => toHex(row.id)),
  };
}
