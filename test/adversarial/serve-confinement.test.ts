/**
 * `serve --restrict-to-path` against symlinks planted inside the allowed tree (by another user
 * of a shared directory, or left behind): a real `blindsync serve` process is asked to open or
 * create repositories whose database, or a directory on the way, links out of the tree. Each
 * request is refused, the repository outside is not touched (bytes and modification time), and
 * nothing is created outside the tree.
 */
import { createHash } from "node:crypto";
import { promises as fsp, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../src/errors.js";
import type { OpenMode } from "../../src/protocol/index.js";
import { RemoteStore } from "../../src/store/index.js";
import { runCli } from "../helpers/cli.js";
import { DATABASE_FILE } from "../helpers/constants.js";
import { databaseOf } from "../helpers/database.js";
import { removeDir, tempDir } from "../helpers/trees.js";
import { exitOf, spawnServe } from "../helpers/serve-process.js";

let work: string;
let allowed: string;
let outside: string;
let victimDb: string;

/** What is outside the allowed tree: every name, and the victim database's bytes and mtime. */
async function outsideState(): Promise<string> {
  const names = (await fsp.readdir(outside, { recursive: true })).sort();
  const db = readFileSync(victimDb);
  return JSON.stringify({
    names,
    sha256: createHash("sha256").update(db).digest("hex"),
    mtime: statSync(victimDb).mtimeMs,
  });
}

/** Asks a real `serve --restrict-to-path allowed` for `path`; answers the refusal, if any. */
async function askServe(path: string, mode: OpenMode): Promise<unknown> {
  const serve = spawnServe(["--restrict-to-path", allowed]);
  const exited = exitOf(serve.child);
  try {
    const store = await RemoteStore.connect(
      { readable: serve.child.stdout, writable: serve.child.stdin },
      {
        path,
        mode,
        onClose: async () => {
          await exited;
        },
      },
    );
    await store.readConfig().catch(() => undefined);
    await store.close();
    return undefined;
  } catch (error) {
    serve.child.stdin.end();
    await exited;
    return error;
  }
}

beforeAll(async () => {
  work = await tempDir("blindsync-confine-");
  allowed = join(work, "allowed");
  outside = join(work, "outside");
  await fsp.mkdir(allowed);
  const init = await runCli(["init", join(outside, "victim")], {
    cacheDir: join(work, "cache"),
  });
  expect(init.code, init.stderr).toBe(0);
  victimDb = join(outside, "victim", DATABASE_FILE);
});

afterAll(async () => {
  await removeDir(work);
});

describe("serve --restrict-to-path and symlinks", () => {
  it("refuses a blindsync.sqlite that links to a repository outside the tree, for open and create", async () => {
    const repo = join(allowed, "linked-db");
    await fsp.mkdir(repo);
    await fsp.symlink(victimDb, databaseOf(repo));
    const before = await outsideState();
    for (const mode of ["open", "create"] as const) {
      const error = await askServe(repo, mode);
      expect(isBlindsyncError(error), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/symbolic link/);
    }
    expect(await outsideState()).toBe(before);
  });

  it("refuses a dangling blindsync.sqlite link and creates nothing where it points", async () => {
    const repo = join(allowed, "dangling-db");
    await fsp.mkdir(repo);
    const target = join(outside, "planted.sqlite");
    await fsp.symlink(target, databaseOf(repo));
    const before = await outsideState();
    const error = await askServe(repo, "create");
    expect(isBlindsyncError(error), String(error)).toBe(true);
    expect(await outsideState()).toBe(before);
    await expect(fsp.lstat(target)).rejects.toThrow(/ENOENT/);
  });

  it("refuses a repository directory that links out of the tree, and one reached through a linked parent", async () => {
    await fsp.symlink(join(outside, "victim"), join(allowed, "linked-repo"));
    await fsp.symlink(outside, join(allowed, "linked-parent"));
    await fsp.symlink(join(outside, "new-dir"), join(allowed, "dangling-dir"));
    const before = await outsideState();
    for (const [path, mode] of [
      [join(allowed, "linked-repo"), "open"],
      [join(allowed, "linked-parent", "victim"), "open"],
      [join(allowed, "linked-parent", "fresh"), "create"],
      [join(allowed, "dangling-dir"), "create"],
      [join(allowed, "dangling-dir", "below"), "create"],
    ] as const) {
      const error = await askServe(path, mode);
      expect(isBlindsyncError(error), `${path}: ${String(error)}`).toBe(true);
    }
    expect(await outsideState()).toBe(before);
  });

  it("still creates and opens a plain repository inside the tree", async () => {
    const repo = join(allowed, "plain");
    expect(await askServe(repo, "create")).toBeUndefined();
    expect(statSync(databaseOf(repo)).isFile()).toBe(true);
  });
});
