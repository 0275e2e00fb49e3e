/**
 * `forget REPO ID...` and `tag REPO ID... --add/--remove` through the built CLI (issue 21).
 * Both write or remove snapshot records, which every client pins: each test checks, beside
 * what the command did, that another client that had seen the old head still opens the
 * repository (no false rollback, exit 14), that `check` is clean, and that the next backup
 * follows the new head.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli, type CliResult } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

interface Listed {
  id: string;
  tags: string[];
  seq: number;
  paths: string[];
}

let work: string;
let repo: string;
let source: string;
const cli = (...args: string[]) =>
  runCli(args, { cacheDir: join(work, "cache") });
/** Another machine's client: its own cache, so its own pin. */
const other = (...args: string[]) =>
  runCli(args, { cacheDir: join(work, "other-cache") });

function ok(result: CliResult): CliResult {
  expect(result.code, result.stderr).toBe(0);
  return result;
}

async function list(): Promise<Listed[]> {
  return JSON.parse(
    ok(await cli("snapshots", repo, "--json")).stdout,
  ) as Listed[];
}

function jsonLines(result: CliResult): Record<string, unknown>[] {
  return result.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Three backups of `source`, each with its own version of v.txt, made once and kept aside;
 * each test gets them back at the same paths (the caches key their pins by the repository's
 * path), so every test starts from the same repository and the same two pins.
 */
let saved: string;
beforeAll(async () => {
  work = await tempDir();
  saved = await tempDir();
  repo = join(work, "repo");
  source = join(work, "source");
  mkdirSync(source);
  ok(await cli("init", repo));
  for (const version of [1, 2, 3]) {
    writeFileSync(join(source, "v.txt"), `version ${version}\n`);
    ok(await cli("backup", source, repo, "--tag", `v${version}`));
  }
  // The other client has seen (pinned) the head: the third backup.
  ok(await other("snapshots", repo));
  cpSync(work, saved, { recursive: true, preserveTimestamps: true });
});

beforeEach(() => {
  rmSync(work, { recursive: true, force: true });
  cpSync(saved, work, { recursive: true, preserveTimestamps: true });
});

afterAll(async () => {
  await removeDir(work);
  await removeDir(saved);
});

/** Both clients open the repository, check passes, and a new backup lands on top. */
async function expectChainWhole(): Promise<void> {
  ok(await other("snapshots", repo));
  ok(await cli("check", repo));
  const before = await list();
  writeFileSync(join(source, "v.txt"), "version 4\n");
  ok(await cli("backup", source, repo));
  const after = await list();
  const top = Math.max(...before.map((s) => s.seq));
  expect(after.find((s) => !before.some((b) => b.id === s.id))?.seq).toBe(
    top + 1,
  );
  expect(ok(await other("cat", repo, "v.txt")).stdout).toBe("version 4\n");
}

describe("forget REPO ID...", () => {
  it("removes the named snapshots by unique prefix, and --json says so", async () => {
    const [first, second, third] = await list();
    const result = ok(
      await cli(
        "forget",
        repo,
        first?.id.slice(0, 10) ?? "",
        second?.id ?? "",
        "--json",
      ),
    );
    const lines = jsonLines(result);
    expect(lines.filter((l) => l.type === "decision").map((l) => l.id)).toEqual(
      [first?.id, second?.id],
    );
    expect(lines.at(-1)).toEqual({
      type: "summary",
      kept: 1,
      removed: 2,
      dryRun: false,
    });
    expect((await list()).map((s) => s.id)).toEqual([third?.id]);
    await expectChainWhole();
  });

  it("removing the newest lets the one before take its place: latest goes back, no client sees a rollback", async () => {
    const [, second, third] = await list();
    const result = ok(
      await cli("forget", repo, third?.id.slice(0, 8) ?? "", "--json"),
    );
    const rewritten = jsonLines(result).find((l) => l.type === "rewritten");
    expect(rewritten).toMatchObject({
      reason: "new-head",
      from: second?.id,
      tags: ["v2"],
    });
    const left = await list();
    expect(left).toHaveLength(2);
    expect(left.some((s) => s.id === third?.id || s.id === second?.id)).toBe(
      false,
    );
    expect(ok(await cli("cat", repo, "v.txt")).stdout).toBe("version 2\n");
    expect(ok(await other("cat", repo, "v.txt")).stdout).toBe("version 2\n");
    await expectChainWhole();
  });

  it("--dry-run lists and changes nothing; --prune gives the forgotten data back", async () => {
    const [first] = await list();
    const dry = ok(await cli("forget", repo, first?.id ?? "", "--dry-run"));
    expect(dry.stdout).toContain("Would remove 1 snapshot,");
    expect(await list()).toHaveLength(3);
    const pruned = ok(
      await cli("forget", repo, first?.id ?? "", "--prune", "--json"),
    );
    const prune = jsonLines(pruned).find((l) => l.type === "prune");
    expect(prune?.deletedBlobs).toBeGreaterThan(0);
    expect(await list()).toHaveLength(2);
    await expectChainWhole();
  });

  it("refuses ids mixed with a keep policy or with filters, and removing every snapshot (exit 2)", async () => {
    const snapshots = await list();
    const [first] = snapshots;
    const id = first?.id.slice(0, 8) ?? "";
    const mixed = await cli("forget", repo, id, "--keep-last", "1");
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("not both");
    const filtered = await cli("forget", repo, id, "--tag", "v1");
    expect(filtered.code).toBe(2);
    const all = await cli("forget", repo, ...snapshots.map((s) => s.id));
    expect(all.code).toBe(2);
    expect(all.stderr).toContain("Not removing every snapshot");
    const unknown = await cli("forget", repo, "ffffffffffff");
    expect(unknown.code).toBe(1);
    expect(await list()).toHaveLength(3);
  });
});

describe("tag REPO ID... --add/--remove", () => {
  it("retags a snapshot below the head in its place: new id, same seq, latest unchanged", async () => {
    const [first, , third] = await list();
    const result = ok(
      await cli(
        "tag",
        repo,
        first?.id.slice(0, 8) ?? "",
        "--add",
        "keep,yearly",
        "--remove",
        "v1",
        "--json",
      ),
    );
    const [rewritten, summary] = jsonLines(result);
    expect(rewritten).toMatchObject({
      type: "rewritten",
      reason: "retag",
      from: first?.id,
    });
    expect(summary).toEqual({ type: "summary", changed: 1, unchanged: 0 });
    const after = await list();
    const retagged = after.find((s) => s.id === rewritten?.to);
    expect(retagged?.tags).toEqual(["keep", "yearly"]);
    expect(retagged?.seq).toBe(first?.seq);
    expect(after.some((s) => s.id === first?.id)).toBe(false);
    const picked = JSON.parse(
      ok(await cli("snapshots", repo, "--tag", "keep", "--json")).stdout,
    ) as Listed[];
    expect(picked.map((s) => s.id)).toEqual([rewritten?.to]);
    expect(ok(await cli("cat", repo, "v.txt")).stdout).toBe("version 3\n");
    expect(after.some((s) => s.id === third?.id)).toBe(true);
    await expectChainWhole();
  });

  it("retags the head on top of the chain: latest is the same backup, other clients still open it", async () => {
    const [, , third] = await list();
    const result = ok(
      await cli("tag", repo, "latest", "--add", "release", "--json"),
    );
    const [rewritten] = jsonLines(result);
    expect(rewritten?.from).toBe(third?.id);
    expect(rewritten?.tags).toEqual(["v3", "release"]);
    expect(
      ok(await other("cat", repo, "v.txt", "--tag", "release")).stdout,
    ).toBe("version 3\n");
    const kept = ok(
      await cli(
        "forget",
        repo,
        "--keep-tag",
        "release",
        "--keep-last",
        "1",
        "--dry-run",
        "--json",
      ),
    );
    const decision = jsonLines(kept).find((l) => l.id === rewritten?.to);
    expect(decision?.keep).toBe(true);
    await expectChainWhole();
  });

  it("leaves a snapshot that already has the tags alone", async () => {
    const [first] = await list();
    const result = ok(await cli("tag", repo, first?.id ?? "", "--add", "v1"));
    expect(result.stdout).toContain("unchanged");
    expect((await list()).map((s) => s.id)).toContain(first?.id);
  });

  it("refuses a tag command with nothing to change or an empty tag (exit 2), and --help teaches it", async () => {
    const [first] = await list();
    expect((await cli("tag", repo, first?.id ?? "")).code).toBe(2);
    expect(
      (await cli("tag", repo, first?.id ?? "", "--add", "a,,b")).code,
    ).toBe(2);
    const help = ok(await cli("tag", "--help"));
    expect(help.stdout).toContain("--add <tags>");
    expect(help.stdout).toMatch(/Examples:\n\s+blindsync tag /);
  });
});
