/**
 * Issue 17, a loose end of item 8: a snapshot a key holder forged outside the head chain
 * (sequence number 2^53-1) is passed by, with a warning, by every command; `check` must name it
 * as forged data (exit 13) with the reason, and still work. A real repository, the real CLI,
 * and a snapshot sealed with the repository's real keys.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Repository } from "../../src/repo/index.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { toHex } from "../../src/util/bytes.js";
import { runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const PASSWORD = "check forged head passphrase";

let work: string;

beforeAll(async () => {
  work = await tempDir("blindsync-check-forged-");
});

afterAll(async () => {
  await removeDir(work);
});

describe("check and a forged head", () => {
  it("names a snapshot forged with sequence number 2^53-1, with its id and reason, and exits 13", async () => {
    const repo = join(work, "repo");
    const source = join(work, "source");
    const cacheDir = join(work, "cache");
    const cli = (...args: string[]) =>
      runCli(args, { cacheDir, env: { BLINDSYNC_PASSWORD: PASSWORD } });
    await fsp.mkdir(source);
    await fsp.writeFile(join(source, "data.txt"), "honest\n");
    expect((await cli("init", repo)).code).toBe(0);
    const backup = await cli("backup", source, repo);
    expect(backup.code, backup.stderr).toBe(0);
    const healthy = await cli("check", repo);
    expect(healthy.code, healthy.stderr).toBe(0);

    const store = await SqliteStore.open(repo);
    let forgedId: string;
    try {
      const keys = await Repository.open(store, Buffer.from(PASSWORD));
      const honest = (await keys.listSnapshots())[0];
      if (honest === undefined) throw new Error("no honest snapshot");
      // An authentic record on top of the honest head, at the top of the sequence range.
      const forged = await keys.saveSnapshot({
        tree: honest.tree,
        username: honest.username,
        paths: honest.paths,
        tags: [],
        stats: honest.stats,
        seq: Number.MAX_SAFE_INTEGER,
        previous: honest.id,
        host: "forger",
        time: new Date(Date.now() + 60_000).toISOString(),
      });
      forgedId = toHex(forged.id);
    } finally {
      await store.close();
    }

    const check = await cli("check", repo);
    expect(check.code, check.stderr).toBe(13);
    expect(check.stdout).toMatch(
      new RegExp(
        `snapshot ${forgedId.slice(0, 8)} \\(host "forger", .*\\) is left out of the head chain: its sequence number 9007199254740991 jumps from 1`,
      ),
    );
    expect(check.stdout).toMatch(/1 problem found/);
    expect(check.stderr).not.toMatch(/\n\s+at /);

    const json = await cli("check", "--json", repo);
    expect(json.code).toBe(13);
    const problems = json.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.type === "problem");
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      kind: "suspicious-snapshot",
      severity: "error",
      id: forgedId,
      snapshots: [forgedId.slice(0, 8)],
    });
  });
});
