/**
 * --host, --path and --tag through the built CLI (issue 21): restic's rules on `snapshots`,
 * `ls`, `cat`, `diff`, `restore` and `forget`, `latest` as the newest match in chain order, and
 * the short restore form refusing to guess between source sets.
 *
 * A second machine's backup is written with the library (a real snapshot record under the
 * repository's keys, host "server"), since one test machine has one host name.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { headOf } from "../../src/repo/index.js";
import { toHex } from "../../src/util/bytes.js";
import { runCli } from "../helpers/cli.js";
import { withRepository } from "../helpers/repositories.js";
import { removeDir, tempDir } from "../helpers/trees.js";

interface Listed {
  id: string;
  host: string;
  paths: string[];
  tags: string[];
  seq: number;
}

describe("snapshot filters", () => {
  let work: string;
  let repo: string;
  let docs: string;
  let photos: string;
  const here = hostname();
  const ids: Record<"docs1" | "photos" | "docs2" | "server", string> = {
    docs1: "",
    photos: "",
    docs2: "",
    server: "",
  };
  const cli = (...args: string[]) =>
    runCli(args, { cacheDir: join(work, "cache"), cwd: work });
  const listed = async (...filters: string[]): Promise<string[]> => {
    const result = await cli("snapshots", repo, "--json", ...filters);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as Listed[]).map((s) => s.id);
  };

  beforeAll(async () => {
    work = await tempDir();
    repo = join(work, "repo");
    docs = join(work, "docs");
    photos = join(work, "photos");
    mkdirSync(docs);
    mkdirSync(photos);
    writeFileSync(join(docs, "a.txt"), "old docs\n");
    writeFileSync(join(photos, "p.txt"), "photo\n");
    expect((await cli("init", repo)).code).toBe(0);
    const backup = async (...args: string[]) => {
      const result = await cli("backup", ...args, "--json");
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(
        result.stdout.trim().split("\n").at(-1) ?? "",
      ) as { snapshot: string };
      return summary.snapshot;
    };
    ids.docs1 = await backup(docs, repo, "--tag", "daily");
    ids.photos = await backup(photos, repo);
    writeFileSync(join(docs, "a.txt"), "new docs\n");
    ids.docs2 = await backup(docs, repo, "--tag", "daily", "--tag", "home");
    // Another machine backs up a folder of the same path, with the old content: the newest
    // snapshot of all, so plain `latest` is this one.
    ids.server = await withRepository(repo, async (library) => {
      const snapshots = await library.listSnapshots();
      const head = headOf(snapshots);
      const first = snapshots.find((s) => toHex(s.id) === ids.docs1);
      if (head === undefined || first === undefined) throw new Error("no head");
      const saved = await library.saveSnapshot({
        seq: head.seq + 1,
        previous: head.id,
        tree: first.tree,
        time: new Date().toISOString(),
        host: "server",
        username: "backup",
        paths: [docs],
        tags: ["server"],
        stats: first.stats,
        ...(first.root === undefined ? {} : { root: first.root }),
      });
      return toHex(saved.id);
    });
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("snapshots: hosts ORed, paths ANDed (absolute, exact), tag lists ANDed inside and ORed", async () => {
    expect(await listed("--host", "server")).toEqual([ids.server]);
    expect(await listed("--host", "server", "--host", here)).toHaveLength(4);
    // Relative to the working directory, as restic takes it.
    expect(await listed("--path", "docs")).toEqual([
      ids.docs1,
      ids.docs2,
      ids.server,
    ]);
    expect(await listed("--path", docs, "--path", photos)).toEqual([]);
    expect(await listed("--path", work)).toEqual([]);
    expect(await listed("--tag", "daily,home")).toEqual([ids.docs2]);
    expect(await listed("--tag", "daily,home", "--tag", "server")).toEqual([
      ids.docs2,
      ids.server,
    ]);
    expect(await listed("--tag", "")).toEqual([ids.photos]);
    expect(
      await listed("--host", here, "--path", "docs", "--tag", "daily"),
    ).toEqual([ids.docs1, ids.docs2]);
  });

  it("cat and ls: latest is the newest match in chain order", async () => {
    const plain = await cli("cat", repo, "a.txt");
    expect(plain.stdout).toBe("old docs\n");
    const mine = await cli("cat", repo, "a.txt", "--host", here);
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toBe("new docs\n");
    const ls = await cli("ls", repo, "--path", photos, "--json");
    expect(ls.code, ls.stderr).toBe(0);
    const paths = ls.stdout
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { path: string }).path);
    expect(paths).toEqual(["p.txt"]);
  });

  it("diff: the filters choose latest for either side", async () => {
    const result = await cli(
      "diff",
      repo,
      ids.docs1.slice(0, 8),
      "latest",
      "--tag",
      "home",
      "--json",
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({
      change: "modified",
      path: "a.txt",
      type: "file",
    });
    const unfiltered = await cli("diff", repo, ids.docs1.slice(0, 8), "latest");
    expect(unfiltered.stdout).toBe("");
  });

  it("forget: the policy applies only to the snapshots the filters pick", async () => {
    const result = await cli(
      "forget",
      repo,
      "--keep-last",
      "1",
      "--tag",
      "daily",
      "--dry-run",
      "--json",
    );
    expect(result.code, result.stderr).toBe(0);
    const decisions = result.stdout
      .trim()
      .split("\n")
      .map(
        (line) =>
          JSON.parse(line) as { type: string; id: string; keep: boolean },
      )
      .filter((line) => line.type === "decision");
    expect(decisions.map((d) => [d.id, d.keep]).sort()).toEqual(
      [
        [ids.docs1, false],
        [ids.docs2, true],
      ].sort(),
    );
  });

  it("a filter that matches nothing is a plain error naming it (exit 1)", async () => {
    const result = await cli("ls", repo, "--host", "nobody");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("No snapshot matches --host nobody");
  });

  it("restore: the filters choose latest", async () => {
    const target = join(work, "restored-photos");
    const result = await cli("restore", repo, target, "--path", photos);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(target, "p.txt"), "utf8")).toBe("photo\n");
  });

  it("--help of each command teaches the filters with an example", async () => {
    for (const command of [
      "snapshots",
      "ls",
      "cat",
      "diff",
      "restore",
      "forget",
    ]) {
      const help = await cli(command, "--help");
      expect(help.code, command).toBe(0);
      for (const flag of ["--host <host>", "--path <path>", "--tag <tags>"])
        expect(help.stdout, `${command} ${flag}`).toContain(flag);
      expect(help.stdout, command).toMatch(
        /Examples:[\s\S]*--(host|path|tag) /,
      );
    }
  });
});

describe("the short restore form with several source sets", () => {
  let work: string;
  let repo: string;
  let docs: string;
  let photos: string;
  const cli = (...args: string[]) =>
    runCli(args, { cacheDir: join(work, "cache"), cwd: work });

  beforeAll(async () => {
    work = await tempDir();
    repo = join(work, "repo");
    docs = join(work, "docs");
    photos = join(work, "photos");
    mkdirSync(docs);
    mkdirSync(photos);
    writeFileSync(join(docs, "a.txt"), "docs\n");
    writeFileSync(join(photos, "p.txt"), "photo\n");
    expect((await cli("init", repo)).code).toBe(0);
    for (const source of [docs, docs, photos])
      expect((await cli("backup", source, repo)).code).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("restores a single source set as before", async () => {
    // Only docs' snapshots match: one source set.
    const target = join(work, "only-docs");
    const result = await cli(repo, target, "--path", docs);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe("docs\n");
  });

  it("refuses (exit 2) listing each set with the options that pick it, and writes nothing", async () => {
    const target = join(work, "out");
    const result = await cli(repo, target);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("2 source sets");
    const here = hostname();
    expect(result.stderr).toContain(`--host ${here} --path ${docs}`);
    expect(result.stderr).toContain(`--host ${here} --path ${photos}`);
    expect(existsSync(target)).toBe(false);
  });

  it("restores the set the options pick", async () => {
    const target = join(work, "out-photos");
    const result = await cli(
      repo,
      target,
      "--host",
      hostname(),
      "--path",
      photos,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(target, "p.txt"), "utf8")).toBe("photo\n");
  });

  it("takes a snapshot named by --snapshot as named", async () => {
    const list = await cli("snapshots", repo, "--json");
    const [first] = JSON.parse(list.stdout) as Listed[];
    const target = join(work, "out-first");
    const result = await cli(
      repo,
      target,
      "--snapshot",
      first?.id.slice(0, 8) ?? "",
    );
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe("docs\n");
  });

  it("leaves `restore REPO TARGET` (the explicit command) restoring latest", async () => {
    const target = join(work, "explicit");
    const result = await cli("restore", repo, target);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(target, "p.txt"), "utf8")).toBe("photo\n");
  });
});
