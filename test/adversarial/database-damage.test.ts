/**
 * A truncated or corrupted repository database (the "Also" list): the file cut to half,
 * cut to 100 bytes, and a 64 KiB page overwritten with garbage, at the page holding the blob
 * index, at the first page, and in the middle of the file.
 *
 * Where SQLite's own structures are hit, every command (snapshots, check, check --read-data,
 * restore, backup) must fail with one clear line (plus a hint), exit non-zero
 * (13: integrity), leave the file byte-identical and write nothing into a restore target.
 * The first page from the middle of the file on that holds blob payload (an overflow page, found
 * with SQLite's dbstat table), which SQLite cannot notice until that blob is read: there, as observed,
 * `snapshots`, `ls` and the structure `check` succeed, `check --read-data` names exactly the
 * damaged blobs (found here independently by re-hashing every stored blob, as a keyless scrub
 * does) and exits 13, restore writes everything but the affected file and exits 13, and a
 * backup succeeds without touching the damaged page.
 *
 * Finally, a copy of the repository taken before the damage, put back in place, restores every
 * earlier snapshot exactly with the client that wrote them.
 */
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  openSync,
  closeSync,
  readdirSync,
  statSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCleanError, jsonProblems, runCli } from "../helpers/cli.js";
import { DATABASE_FILE } from "../helpers/constants.js";
import { expectRestoreSkipsDamaged } from "../helpers/damage.js";
import { copyRepository, databaseOf } from "../helpers/database.js";
import { sha256File } from "../helpers/files.js";
import { seededBytes } from "../helpers/prng.js";
import { readLayout, type RepositoryLayout } from "../helpers/repositories.js";
import {
  buildManyFilesTree,
  type Described,
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

const PAGE = 65536;

/** Overwrites page `page` (1-based) of the database with seeded garbage. */
function garblePage(file: string, page: number, seed: number): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, seededBytes(seed, PAGE), 0, PAGE, (page - 1) * PAGE);
  } finally {
    closeSync(fd);
  }
}

function pageCount(file: string): number {
  return statSync(file).size / PAGE;
}

/** What lives on a page, by SQLite's dbstat table (read on an undamaged database). */
function pageOwner(file: string, page: number): { name: string; type: string } {
  const db = new Database(file, { readonly: true });
  try {
    const row = db
      .prepare("SELECT name, pagetype FROM dbstat WHERE pageno = ?")
      .get(page) as { name: string; pagetype: string } | undefined;
    if (row === undefined) throw new Error(`page ${page} is not in dbstat`);
    return { name: row.name, type: row.pagetype };
  } finally {
    db.close();
  }
}

/** The first page at or after `from` that holds blob payload (an overflow page of blob_data). */
function firstOverflowPageFrom(file: string, from: number): number {
  const db = new Database(file, { readonly: true });
  try {
    const page = db
      .prepare(
        `SELECT min(pageno) FROM dbstat
         WHERE name = 'blob_data' AND pagetype = 'overflow' AND pageno >= ?`,
      )
      .pluck()
      .get(from) as number | null;
    if (page === null)
      throw new Error(`no blob payload page from page ${from} on`);
    return page;
  } finally {
    db.close();
  }
}

function rootPageOf(file: string, table: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare("SELECT rootpage FROM sqlite_schema WHERE name = ?")
      .pluck()
      .get(table) as number;
  } finally {
    db.close();
  }
}

/**
 * A keyless scrub done here, independently of blindsync: the ids whose stored bytes no longer
 * hash to their recorded SHA-256, or cannot be read at all.
 */
function scrub(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db
      .prepare("SELECT id, sha256, data_id FROM blobs ORDER BY id")
      .all() as { id: Buffer; sha256: Buffer; data_id: number }[];
    const read = db
      .prepare("SELECT data FROM blob_data WHERE rowid = ?")
      .pluck();
    const bad: string[] = [];
    for (const row of rows) {
      let ok = false;
      try {
        const data = read.get(row.data_id) as Buffer;
        ok = createHash("sha256").update(data).digest().equals(row.sha256);
      } catch {
        ok = false;
      }
      if (!ok) bad.push(row.id.toString("hex"));
    }
    return bad;
  } finally {
    db.close();
  }
}

/** The stderr of a clean failure: one line (the hint aside), no stack trace. */
function errorLines(stderr: string): string[] {
  return stderr
    .trim()
    .split("\n")
    .filter((line) => !line.startsWith("  hint:"));
}

describe("a truncated or corrupted repository database", () => {
  let work: string;
  let source: string;
  let repo: string;
  let pristine: string;
  let writerCache: string;
  let firstTree: Map<string, Described>;
  let secondTree: Map<string, Described>;
  let layout: RepositoryLayout;
  let cases = 0;

  beforeAll(async () => {
    work = await tempDir("blindsync-dbdamage-");
    source = join(work, "source");
    repo = join(work, "repo");
    writerCache = join(work, "writer-cache");
    await buildManyFilesTree(source, { files: 30, dirs: 3, seed: 12 });
    // A few chunks of a large file, so that most pages of the database are blob payload.
    await writeFile(join(source, "large.bin"), seededBytes(13, 3_000_000));
    const cli = (...args: string[]) => runCli(args, { cacheDir: writerCache });
    expect((await cli("init", repo)).code).toBe(0);
    const first = await cli("backup", source, repo);
    expect(first.code, first.stderr).toBe(0);
    firstTree = describeTree(source);
    await writeFile(join(source, "added-later.txt"), "second snapshot\n");
    const second = await cli("backup", source, repo);
    expect(second.code, second.stderr).toBe(0);
    secondTree = describeTree(source);
    layout = await readLayout(repo);
    expect(layout.snapshots).toHaveLength(2);
    // The copy taken before any damage.
    pristine = join(work, "pristine-copy");
    await copyRepository(repo, pristine);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  async function damagedCopy(damage: (file: string) => void) {
    cases++;
    const dir = join(work, `case-${cases}`);
    const copy = join(dir, "repo");
    await copyRepository(pristine, copy);
    damage(databaseOf(copy));
    return { dir, copy, cacheDir: join(dir, "cache") };
  }

  const structural: [string, (file: string) => void][] = [
    [
      "cut to half its length",
      (file) => {
        truncateSync(file, Math.floor(statSync(file).size / 2));
      },
    ],
    [
      "cut to 100 bytes",
      (file) => {
        truncateSync(file, 100);
      },
    ],
    [
      "with garbage over the page of the blob index",
      (file) => {
        garblePage(file, rootPageOf(file, "blobs"), 1);
      },
    ],
    [
      "with garbage over its first page",
      (file) => {
        garblePage(file, 1, 2);
      },
    ],
  ];

  for (const [name, damage] of structural) {
    it(`${name}: every command fails with one clear line, exit 13, and changes nothing`, async () => {
      const { dir, copy, cacheDir } = await damagedCopy(damage);
      const file = databaseOf(copy);
      const hash = sha256File(file);
      const target = join(dir, "target");
      for (const args of [
        ["snapshots", copy],
        ["check", copy],
        ["check", "--read-data", copy],
        ["restore", copy, target],
        ["backup", source, copy],
      ]) {
        const result = await runCli(args, { cacheDir });
        const what = `${args.join(" ")}: ${result.stderr}`;
        expect(result.code, what).toBe(13);
        expect(isCleanError(result.stderr), what).toBe(true);
        const lines = errorLines(result.stderr);
        expect(lines, what).toHaveLength(1);
        expect(lines[0], what).toMatch(
          /^blindsync: The repository database ".*blindsync\.sqlite" is damaged: /,
        );
        expect(sha256File(file), what).toBe(hash);
        expect(readdirSync(join(copy))).toStrictEqual([DATABASE_FILE]);
      }
      expect(existsSync(target) ? readdirSync(target) : []).toStrictEqual([]);
    });
  }

  it("with garbage over a page in the middle (blob payload): check --read-data and restore name exactly the damaged blob, the rest works", async () => {
    // The first blob-payload page from the middle on: which pages hold payload and which
    // hold leaf rows depends on the (shuffled) upload order.
    const middle = firstOverflowPageFrom(
      databaseOf(pristine),
      Math.floor(pageCount(databaseOf(pristine)) / 2) + 1,
    );
    expect(pageOwner(databaseOf(pristine), middle)).toStrictEqual({
      name: "blob_data",
      type: "overflow",
    });
    const { dir, copy, cacheDir } = await damagedCopy((file) => {
      garblePage(file, middle, 3);
    });
    const damaged = scrub(databaseOf(copy));
    expect(damaged.length).toBeGreaterThan(0);
    const damagedPaths = [
      ...new Set(damaged.flatMap((id) => layout.dataUsers.get(id) ?? [])),
    ];
    expect(damagedPaths.length).toBeGreaterThan(0);

    // Nothing SQLite reads to list snapshots or trees is hit.
    const listed = await runCli(["snapshots", copy], { cacheDir });
    expect(listed.code, listed.stderr).toBe(0);
    const structure = await runCli(["check", copy], { cacheDir });
    expect(structure.code, structure.stderr).toBe(0);

    const check = await runCli(["--json", "check", "--read-data", copy], {
      cacheDir,
    });
    expect(check.code, check.stderr).toBe(13);
    expect(
      jsonProblems(check.stdout)
        .map((problem) => problem.id)
        .sort(),
    ).toStrictEqual([...damaged].sort());

    await expectRestoreSkipsDamaged({
      repo: copy,
      target: join(dir, "target"),
      cacheDir,
      source: secondTree,
      damagedPaths,
    });

    // Observed: a backup never reads stored blobs, so it succeeds; the damage stays where it
    // was (the same blobs, now also named under the new snapshot), and no more appears.
    const backup = await runCli(["backup", source, copy], { cacheDir });
    expect(backup.code, backup.stderr).toBe(0);
    expect(scrub(databaseOf(copy))).toStrictEqual(damaged);
    const after = await runCli(["--json", "check", "--read-data", copy], {
      cacheDir,
    });
    expect(after.code).toBe(13);
    const problems = jsonProblems(after.stdout);
    expect(problems.map((problem) => problem.id).sort()).toStrictEqual(
      [...damaged].sort(),
    );
    for (const problem of problems) expect(problem.snapshots).toHaveLength(3);
  });

  it("the copy taken before the damage, put back in place, restores every earlier snapshot exactly", async () => {
    // Damage the repository the writer uses, in place, and see it refused.
    const file = databaseOf(repo);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const refused = await runCli(["snapshots", repo], {
      cacheDir: writerCache,
    });
    expect(refused.code).toBe(13);

    copyFileSync(databaseOf(pristine), file);
    const trees = [firstTree, secondTree];
    for (const [index, id] of layout.snapshots.entries()) {
      const target = join(work, `recovered-${index}`);
      const restore = await runCli(
        ["restore", repo, target, "--snapshot", id.slice(0, 8)],
        { cacheDir: writerCache },
      );
      expect(restore.code, restore.stderr).toBe(0);
      expect(
        treeDifferences(
          trees[index] ?? new Map<string, Described>(),
          describeTree(target),
        ),
      ).toStrictEqual([]);
    }
    const check = await runCli(["check", "--read-data", repo], {
      cacheDir: writerCache,
    });
    expect(check.code, check.stderr).toBe(0);
  });
});
