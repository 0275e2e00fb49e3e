/**
 * accept-rollback (issue 21): a repository put back from an older copy is refused (exit 14)
 * until the user accepts it, for that repository only; after accepting, backups work and
 * restore exactly, and a second rollback is noticed again.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCleanError, runCli } from "../helpers/cli.js";
import { directoryDifferences, removeDir, tempDir } from "../helpers/trees.js";

describe("accept-rollback", () => {
  let work: string;
  let cacheDir: string;
  const cli = (args: string[], input?: string) =>
    runCli(args, { cacheDir, ...(input === undefined ? {} : { input }) });

  beforeAll(async () => {
    work = await tempDir("blindsync-accept-rollback-");
    cacheDir = join(work, "cache");
  });

  afterAll(async () => {
    await removeDir(work);
  });

  /** A repository backed up once from its own source; its path and the source's. */
  async function repository(name: string) {
    const source = join(work, `${name}-source`);
    const repo = join(work, name);
    mkdirSync(source);
    expect((await cli(["init", repo])).code).toBe(0);
    return { source, repo };
  }

  async function backup(source: string, repo: string, text: string) {
    writeFileSync(join(source, "notes.txt"), text);
    writeFileSync(join(source, `${text.trim()}.txt`), text);
    return cli(["backup", source, repo]);
  }

  /** Copies `repo` aside, runs two more backups, puts the copy back. */
  async function rollBack(source: string, repo: string, tag: string) {
    const aside = `${repo}-${tag}`;
    cpSync(repo, aside, { recursive: true });
    for (const round of ["later-1", "later-2"]) {
      const later = await backup(source, repo, `${tag}-${round}\n`);
      expect(later.code, later.stderr).toBe(0);
    }
    rmSync(repo, { recursive: true });
    cpSync(aside, repo, { recursive: true });
  }

  it("accepts one repository's older copy, after which backups work and a second rollback is refused again", async () => {
    const a = await repository("a");
    const b = await repository("b");
    for (const { source, repo } of [a, b]) {
      const first = await backup(source, repo, "first\n");
      expect(first.code, first.stderr).toBe(0);
      await rollBack(source, repo, "old");
      const refused = await backup(source, repo, "after-rollback\n");
      expect(refused.code, refused.stderr).toBe(14);
      expect(refused.stderr).toContain("blindsync accept-rollback REPO");
    }

    // Without a terminal and without --yes: refused, nothing changed.
    const unasked = await cli(["accept-rollback", a.repo]);
    expect(unasked.code, unasked.stderr).toBe(2);
    expect(unasked.stderr).toContain("--yes");
    expect((await backup(a.source, a.repo, "still-refused\n")).code).toBe(14);

    const accepted = await cli(["accept-rollback", "--yes", a.repo]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stderr).toMatch(
      /shows head 1 .* but this client has seen head 3/,
    );
    expect(accepted.stderr).toMatch(/rollback go unnoticed/);
    expect(accepted.stdout).toMatch(
      /^Accepted: this client now trusts ".*" at head 1 /,
    );
    expect(isCleanError(accepted.stderr)).toBe(true);

    const resumed = await backup(a.source, a.repo, "accepted\n");
    expect(resumed.code, resumed.stderr).toBe(0);
    const target = join(work, "a-restored");
    const restore = await cli(["restore", a.repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(a.source, target)).toEqual([]);
    const check = await cli(["check", "--read-data", a.repo]);
    expect(check.code, check.stderr).toBe(0);

    // Only that repository's pin moved.
    expect((await backup(b.source, b.repo, "b-still\n")).code).toBe(14);

    // Accepting once is not a licence: the next rollback is refused again.
    await rollBack(a.source, a.repo, "second");
    const again = await backup(a.source, a.repo, "after-second\n");
    expect(again.code, again.stderr).toBe(14);
  });

  it("says there is nothing to accept for a repository in step with its pin", async () => {
    const c = await repository("c");
    expect((await backup(c.source, c.repo, "one\n")).code).toBe(0);
    const result = await cli(["accept-rollback", "--json", "--yes", c.repo]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/nothing to accept/);
  });

  it("a wrong passphrase changes nothing (exit 12)", async () => {
    const d = await repository("d");
    expect((await backup(d.source, d.repo, "one\n")).code).toBe(0);
    await rollBack(d.source, d.repo, "old");
    const wrong = await runCli(["accept-rollback", "--yes", d.repo], {
      cacheDir,
      env: { BLINDSYNC_PASSWORD: "not the passphrase" },
    });
    expect(wrong.code, wrong.stderr).toBe(12);
    expect((await backup(d.source, d.repo, "two\n")).code).toBe(14);
  });
});
