/**
 * A new repository is readable by its owner only, whatever the umask (as restic's and borg's):
 * `blindsync init` run under umask 000 makes the repository directory and any missing parents
 * 0700 and the database 0600, and SQLite's rollback journal, WAL and shared-memory files take
 * the database's mode.
 */
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { databaseOf } from "../helpers/database.js";
import { removeDir, tempDir } from "../helpers/trees.js";

let work: string;
let repo: string;

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

beforeAll(async () => {
  work = await tempDir("blindsync-perms-");
  repo = join(work, "new-parent", "repo");
  // The shell sets the umask for the CLI alone; a test process cannot change its own here.
  const result = spawnSync(
    "/bin/sh",
    ["-c", 'umask 000 && exec "$0" "$@"', process.execPath, CLI, "init", repo],
    {
      encoding: "utf8",
      env: {
        ...process.env,
        BLINDSYNC_PASSWORD: TEST_PASSWORD,
        BLINDSYNC_CACHE_DIR: join(work, "cache"),
        BLINDSYNC_KDF_LOGN: "15",
      },
    },
  );
  expect(result.status, result.stderr).toBe(0);
});

afterAll(async () => {
  await removeDir(work);
});

describe("a repository made under umask 000", () => {
  it("has an owner-only directory, parents and database", () => {
    expect(modeOf(join(work, "new-parent"))).toBe("700");
    expect(modeOf(repo)).toBe("700");
    expect(modeOf(databaseOf(repo))).toBe("600");
  });

  it("gets owner-only journal, WAL and shared-memory files from SQLite", () => {
    const file = databaseOf(repo);
    const db = new Database(file);
    try {
      db.exec("BEGIN IMMEDIATE");
      // A write in rollback-journal mode creates the -journal file until the commit.
      db.exec("CREATE TABLE probe (x)");
      db.exec("INSERT INTO probe VALUES (randomblob(200000))");
      expect(modeOf(`${file}-journal`)).toBe("600");
      db.exec("ROLLBACK");
      db.pragma("journal_mode = WAL");
      db.exec("CREATE TABLE probe (x)");
      expect(modeOf(`${file}-wal`)).toBe("600");
      expect(modeOf(`${file}-shm`)).toBe("600");
    } finally {
      db.close();
    }
  });
});
