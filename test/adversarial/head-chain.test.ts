/**
 * Issue 17, item 8: a key holder must not be able to break or steer the head chain. `latest` is
 * the newest snapshot in chain order, whatever time a snapshot claims; and a snapshot forged
 * with the highest sequence number a record can hold is left out of the chain (with a warning
 * naming it), so the next honest backup follows the honest head and everything keeps working.
 * Real repositories, the real built CLI, and a snapshot sealed with the repository's real keys.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../src/util/bytes.js";
import type { CliResult } from "../helpers/cli.js";
import { putRawTree, saveCraftedSnapshot } from "../helpers/craft.js";
import { initRepositoryCase, withRepository } from "../helpers/repositories.js";
import { removeDir, tempDir } from "../helpers/trees.js";

interface Listed {
  readonly id: string;
  readonly time: string;
  readonly seq: number;
}

let work: string;

beforeAll(async () => {
  work = await tempDir("blindsync-head-chain-");
});

afterAll(async () => {
  await removeDir(work);
});

/** A fresh case directory below `work`, its repository made by `init`. */
const setUp = (name: string) => initRepositoryCase(join(work, name));

async function listed(
  cli: (args: readonly string[]) => Promise<CliResult>,
  repo: string,
): Promise<{ result: CliResult; snapshots: Listed[] }> {
  const result = await cli(["snapshots", "--json", repo]);
  expect(result.code, result.stderr).toBe(0);
  return { result, snapshots: JSON.parse(result.stdout) as Listed[] };
}

describe("the head chain against a key holder", () => {
  it("a snapshot dated 2099 is not latest once a normal backup follows it: restore, ls, cat and the short form take the normal one", async () => {
    const { dir, repo, source, cli } = await setUp("future");
    await fsp.writeFile(join(source, "note.txt"), "from the future\n");
    await fsp.writeFile(join(source, "future-only.txt"), "2099\n");
    const future = await cli([
      "backup",
      source,
      repo,
      "--time",
      "2099-01-01T00:00:00Z",
    ]);
    expect(future.code, future.stderr).toBe(0);

    await fsp.writeFile(join(source, "note.txt"), "written today\n");
    await fsp.rm(join(source, "future-only.txt"));
    await fsp.writeFile(join(source, "today-only.txt"), "now\n");
    const normal = await cli(["backup", source, repo]);
    expect(normal.code, normal.stderr).toBe(0);

    // The listing stays in time order (as restic's): the 2099 snapshot is listed last ...
    const { snapshots } = await listed(cli, repo);
    expect(snapshots.map((s) => s.seq)).toEqual([2, 1]);
    expect(snapshots[1]?.time).toBe("2099-01-01T00:00:00.000Z");

    // ... but latest is the newest in the chain.
    const ls = await cli(["ls", repo]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "note.txt",
      "today-only.txt",
    ]);
    const cat = await cli(["cat", repo, "note.txt"]);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe("written today\n");

    const target = join(dir, "restored");
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect((await fsp.readdir(target)).sort()).toEqual([
      "note.txt",
      "today-only.txt",
    ]);
    expect(await fsp.readFile(join(target, "note.txt"), "utf8")).toBe(
      "written today\n",
    );

    // restore --delete trims the target down to the normal snapshot, not to the 2099 one.
    const trimmed = join(dir, "trimmed");
    await fsp.mkdir(trimmed);
    await fsp.writeFile(join(trimmed, "today-only.txt"), "now\n");
    await fsp.writeFile(join(trimmed, "mine.txt"), "kept by latest? no\n");
    const deleting = await cli(["restore", repo, trimmed, "--delete"]);
    expect(deleting.code, deleting.stderr).toBe(0);
    expect((await fsp.readdir(trimmed)).sort()).toEqual([
      "note.txt",
      "today-only.txt",
    ]);

    const short = join(dir, "short");
    const shortForm = await cli([repo, short]);
    expect(shortForm.code, shortForm.stderr).toBe(0);
    expect(await fsp.readFile(join(short, "note.txt"), "utf8")).toBe(
      "written today\n",
    );
    expect(
      await fsp.stat(join(short, "future-only.txt")).catch(() => undefined),
    ).toBeUndefined();
  });

  it("a snapshot forged with sequence number 2^53-1 does not lock anyone out: the next backup succeeds and follows the honest head, with a warning naming the forgery", async () => {
    const { dir, repo, source, cli } = await setUp("forged-seq");
    await fsp.writeFile(join(source, "data.txt"), "honest one\n");
    const first = await cli(["backup", source, repo]);
    expect(first.code, first.stderr).toBe(0);
    const [honest] = (await listed(cli, repo)).snapshots;
    expect(honest?.seq).toBe(1);

    // A key holder writes a validly sealed snapshot at the top of the sequence range, on top
    // of the honest head, dated a minute later so that it is no older by any clock.
    const forgedId = await withRepository(repo, async (keys) => {
      const tree = await putRawTree(keys, [
        { type: "file", name: "data.txt", data: "forged\n" },
      ]);
      const forged = await saveCraftedSnapshot(
        keys,
        tree,
        { seq: honest?.seq ?? 0, id: fromHex(honest?.id ?? "") },
        new Date(Date.now() + 60_000),
        {
          seq: Number.MAX_SAFE_INTEGER,
          host: "forger",
          username: "forger",
          paths: ["/forged"],
          stats: { files: 1, dirs: 0, bytes: 7, blobsAdded: 1, bytesAdded: 7 },
        },
      );
      return toHex(forged.id);
    });
    const named = new RegExp(`${forgedId.slice(0, 8)}.*head chain`);

    await fsp.writeFile(join(source, "data.txt"), "honest two\n");
    const second = await cli(["backup", source, repo]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(named);

    const { result, snapshots } = await listed(cli, repo);
    expect(result.stderr).toMatch(named);
    expect(snapshots).toHaveLength(3);
    const seqs = snapshots.map((s) => s.seq).sort((a, b) => a - b);
    expect(seqs).toEqual([1, 2, Number.MAX_SAFE_INTEGER]);

    const target = join(dir, "restored");
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toMatch(named);
    expect(await fsp.readFile(join(target, "data.txt"), "utf8")).toBe(
      "honest two\n",
    );

    // Another client, with a cache of its own, backs up on top of the honest head too.
    await fsp.writeFile(join(source, "data.txt"), "honest three\n");
    const other = await cli(["backup", source, repo], join(dir, "other-cache"));
    expect(other.code, other.stderr).toBe(0);
    const after = (await listed(cli, repo)).snapshots;
    expect(after.map((s) => s.seq).sort((a, b) => a - b)).toEqual([
      1,
      2,
      3,
      Number.MAX_SAFE_INTEGER,
    ]);
    const cat = await cli(["cat", repo, "data.txt"]);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe("honest three\n");

    // The forgery stays reachable by its id: it was written with the keys.
    const forgedCat = await cli([
      "cat",
      repo,
      "data.txt",
      "--snapshot",
      forgedId.slice(0, 12),
    ]);
    expect(forgedCat.code, forgedCat.stderr).toBe(0);
    expect(forgedCat.stdout).toBe("forged\n");
  });
});
