/**
 * The directory cache must never change what a backup stores: after any sequence of edits to
 * the source, a backup that reuses directories from earlier runs makes the very tree (and the
 * same counts) that a backup with an empty cache makes. And it must actually reuse: a re-run
 * with nothing changed asks the files cache about no file at all.
 */
import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { toHex } from "../../util/bytes.js";
import { ClientCache, Repository, headOf } from "../../repo/index.js";
import { SqliteStore, type Store } from "../../store/index.js";
import { listeningSockets } from "../../../test/helpers/sockets.js";
import { backup } from "./archiver.js";

const PASSWORD = new TextEncoder().encode("directory cache test passphrase");
const FAST_KDF = { scrypt: { logN: 15, r: 8, p: 1 } };
const STEPS = process.env.BLINDSYNC_LONG === "1" ? 600 : 60;

let work: string;
let source: string;
let store: Store;
let repo: Repository;
let warm: ClientCache;
let colds = 0;

beforeEach(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), "blindsync-dircache-"));
  source = join(work, "source");
  store = await SqliteStore.open(join(work, "repo"), { create: true });
  repo = await Repository.create(store, PASSWORD, FAST_KDF);
  warm = ClientCache.open(join(work, "cache"), "warm");
});

afterEach(async () => {
  warm.close();
  await store.close();
  await fsp.rm(work, { recursive: true, force: true });
});

interface Outcome {
  readonly tree: string;
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly warnings: readonly string[];
  /** Files the files cache was asked about: none when every directory is reused. */
  readonly fileLookups: number;
}

async function backupWith(
  cache: ClientCache,
  excludes: readonly string[],
): Promise<Outcome> {
  const warnings: string[] = [];
  let fileLookups = 0;
  const reuseFile = cache.reuseFile.bind(cache);
  cache.reuseFile = (path, identity) => {
    fileLookups += 1;
    return reuseFile(path, identity);
  };
  try {
    const result = await backup({
      repo,
      cache,
      head: headOf(await repo.listSnapshots()),
      sources: [source],
      excludes,
      sink: { progress: () => undefined, warn: (line) => warnings.push(line) },
    });
    const snapshot = result.snapshot;
    if (snapshot === undefined) throw new Error("no snapshot");
    return {
      tree: toHex(snapshot.tree),
      files: result.files,
      dirs: result.dirs,
      bytes: result.bytes,
      warnings,
      fileLookups,
    };
  } finally {
    cache.reuseFile = reuseFile;
  }
}

/** A backup with a cache that has never seen the source: the reference. */
async function backupCold(excludes: readonly string[]): Promise<Outcome> {
  const cold = ClientCache.open(join(work, "cold"), `cold-${colds++}`);
  try {
    return await backupWith(cold, excludes);
  } finally {
    cold.close();
  }
}

/** xorshift32: the same edits on every run of the test. */
function random(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % below;
  };
}

async function listTree(
  root: string,
): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [root];
  for (let index = 0; index < dirs.length; index++) {
    const dir = dirs[index] as string;
    for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) dirs.push(path);
      else if (entry.isFile()) files.push(path);
    }
  }
  return { files, dirs };
}

async function buildSource(): Promise<void> {
  for (const dir of ["a/b/c", "a/d", "e", "f/g"])
    await fsp.mkdir(join(source, dir), { recursive: true });
  let count = 0;
  for (const dir of ["", "a", "a/b", "a/b/c", "a/d", "e", "f", "f/g"])
    for (let index = 0; index < 3; index++)
      await fsp.writeFile(
        join(source, dir, `file${index}.${index === 2 ? "log" : "txt"}`),
        `content ${count++}\n`,
      );
}

describe("the directory cache", () => {
  it("makes the same tree as an empty cache after every kind of edit", async () => {
    await buildSource();
    const pick = random(0x5eed);
    const choose = <T>(items: readonly T[]): T =>
      items[pick(items.length)] as T;
    let excludes: string[] = [];
    let clock = 1_700_000_000;
    const createFile = async (_: string[], dirs: string[]): Promise<string> => {
      const file = join(choose(dirs), `new${pick(1000)}.txt`);
      await fsp.writeFile(file, `new ${pick(1000)}\n`);
      return `create ${file}`;
    };
    const edits: ((files: string[], dirs: string[]) => Promise<string>)[] = [
      async (files) => {
        // Same size, new content: only the times tell.
        const file = choose(files);
        const bytes = await fsp.readFile(file);
        if (bytes.length > 0) bytes[0] = (bytes[0] as number) ^ 1;
        await fsp.writeFile(file, bytes);
        await fsp.utimes(file, clock, ++clock);
        return `edit ${file}`;
      },
      async (files) => {
        const file = choose(files);
        await fsp.appendFile(file, "more\n");
        return `append ${file}`;
      },
      async (files) => {
        const file = choose(files);
        const mode = (await fsp.stat(file)).mode & 0o777;
        await fsp.chmod(file, mode === 0o644 ? 0o600 : 0o644);
        return `chmod ${file}`;
      },
      createFile,
      async (files) => {
        const file = choose(files);
        await fsp.rm(file);
        return `delete ${file}`;
      },
      async (files, dirs) => {
        const file = choose(files);
        const to = join(choose(dirs), `moved${pick(1000)}.txt`);
        await fsp.rename(file, to);
        return `rename ${file} ${to}`;
      },
      async (_, dirs) => {
        const dir = join(choose(dirs), `dir${pick(1000)}`);
        await fsp.mkdir(dir, { recursive: true });
        await fsp.writeFile(join(dir, "inner.txt"), "inner\n");
        return `mkdir ${dir}`;
      },
      async (_, dirs) => {
        const below = dirs.slice(1);
        if (below.length === 0) return "no directory to remove";
        const dir = choose(below);
        await fsp.rm(dir, { recursive: true });
        return `rmdir ${dir}`;
      },
      async (files, dirs) => {
        const link = join(choose(dirs), `link${pick(4)}`);
        await fsp.rm(link, { force: true });
        await fsp.symlink(choose(files), link);
        return `symlink ${link}`;
      },
      async (files, dirs) => {
        const link = join(choose(dirs), `hard${pick(1000)}`);
        await fsp.link(choose(files), link);
        return `hardlink ${link}`;
      },
      async (_, dirs) => {
        const dir = choose(dirs);
        const ignore = join(dir, ".blindsyncignore");
        if (pick(2) === 0) await fsp.rm(ignore, { force: true });
        else await fsp.writeFile(ignore, `file${pick(3)}.txt\nnew*\n`);
        return `ignore file in ${dir}`;
      },
      () => {
        excludes = excludes.length === 0 ? ["*.log"] : [];
        return Promise.resolve(`excludes ${excludes.join(",")}`);
      },
      async (_, dirs) => {
        const dir = choose(dirs);
        await fsp.utimes(dir, clock, ++clock);
        return `touch ${dir}`;
      },
      () => Promise.resolve("nothing"),
    ];
    expect(await backupWith(warm, excludes)).toMatchObject({ warnings: [] });
    for (let step = 0; step < STEPS; step++) {
      const { files, dirs } = await listTree(source);
      // Every edit but the first few needs a file to work on: make one when few are left.
      const edit = files.length < 3 ? createFile : choose(edits);
      const done = await edit(files, dirs);
      const cached = await backupWith(warm, excludes);
      const reference = await backupCold(excludes);
      expect({ ...cached, fileLookups: 0 }, `step ${step}: ${done}`).toEqual({
        ...reference,
        fileLookups: 0,
      });
    }
  });

  it("reuses every directory of an unchanged source, and none that changed", async () => {
    await buildSource();
    // The first run reads every file and records every directory; the next reuses them all.
    const first = await backupWith(warm, []);
    const second = await backupWith(warm, []);
    expect(second).toEqual({ ...first, fileLookups: 0 });
    // One changed file: its directory is walked (three files), and so are the direct files
    // of each directory above it (root and a: six), whose subtrees changed.
    await fsp.appendFile(join(source, "a/b/file1.txt"), "changed\n");
    const fourth = await backupWith(warm, []);
    expect(fourth.tree).not.toBe(second.tree);
    expect(fourth.fileLookups).toBe(3 + 6);
    expect(await backupWith(warm, [])).toEqual({ ...fourth, fileLookups: 0 });
  });

  it("when told to reuse earlier trees, takes the unchanged inline files of a directory walked again from its earlier tree: only the changed file is read", async () => {
    await buildSource();
    await backupWith(warm, []);
    const changed = join(source, "a/b/file1.txt");
    await fsp.appendFile(changed, "changed\n");
    // Its directory and the two above it are walked again: nine small files, one read.
    const read = new Set<string>();
    const result = await backup({
      repo,
      cache: warm,
      head: headOf(await repo.listSnapshots()),
      sources: [source],
      sink: {
        progress: () => undefined,
        warn: () => undefined,
        reading: (progress) => read.add(progress.current),
      },
      reuseEarlierTrees: true,
    });
    expect([...read]).toEqual([changed]);
    expect(result).toMatchObject({ filesNew: 0, filesChanged: 1 });
    expect(toHex(result.snapshot!.tree)).toBe((await backupCold([])).tree);
  });

  it("by default reads the unchanged inline files again, loading no earlier tree", async () => {
    await buildSource();
    await backupWith(warm, []);
    await fsp.appendFile(join(source, "a/b/file1.txt"), "changed\n");
    const loads = vi.spyOn(repo, "loadTree");
    try {
      const result = await backup({
        repo,
        cache: warm,
        head: headOf(await repo.listSnapshots()),
        sources: [source],
        sink: { progress: () => undefined, warn: () => undefined },
      });
      expect(loads).not.toHaveBeenCalled();
      expect(result).toMatchObject({ filesNew: 0, filesChanged: 1 });
      expect(toHex(result.snapshot!.tree)).toBe((await backupCold([])).tree);
    } finally {
      loads.mockRestore();
    }
  });

  it("does not keep a directory with something it had to report, so it reports it every time", async () => {
    await buildSource();
    // A socket: skipped and reported (fifos are stored since tree format 2).
    const closeSockets = await listeningSockets([join(source, "a/d/sock")]);
    try {
      for (let run = 0; run < 3; run++) {
        const outcome = await backupWith(warm, []);
        expect(outcome.warnings).toEqual([expect.stringContaining("a/d/sock")]);
      }
    } finally {
      await closeSockets();
    }
  });
});
