/**
 * Issue 21, the commands restic and borg users expect, through the built CLI: find, stats and
 * version print valid JSON; dump streams a file or a directory as tar into a real `tar`, and
 * ends quietly into `head -c1`; the bash completion script passes `bash -n`; a mistyped
 * command word exits 2 with a suggestion.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, cliEnv, isCleanError, runCli } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

let work: string;
let cacheDir: string;
let repo: string;
let source: string;
const BIG = seededBytes(21, 2 * 1024 * 1024 + 5);

const cli = (args: readonly string[]) => runCli(args, { cacheDir });

/**
 * Runs `blindsync ARGS | READER` in bash: blindsync's own exit status (PIPESTATUS), its
 * stderr, and what the reader printed.
 */
function pipeline(
  args: readonly string[],
  reader: string,
): { status: number; stderr: string; read: Buffer } {
  const quoted = args.map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(" ");
  const result = spawnSync(
    "bash",
    [
      "-c",
      `"$NODE" "$CLI" ${quoted} 2>"$WORK/stderr" | ${reader}; echo "\${PIPESTATUS[0]}" > "$WORK/status"`,
    ],
    {
      env: { ...cliEnv({ cacheDir }), NODE: process.execPath, CLI, WORK: work },
      cwd: work,
      // The reader's output comes back whole (a dumped file of 2 MiB).
      maxBuffer: 64 << 20,
    },
  );
  return {
    status: Number(readFileSync(join(work, "status"), "utf8")),
    stderr: readFileSync(join(work, "stderr"), "utf8"),
    read: result.stdout,
  };
}

beforeAll(async () => {
  work = await tempDir("blindsync-commands-");
  cacheDir = join(work, "cache");
  repo = join(work, "repo");
  source = join(work, "source");
  mkdirSync(join(source, "docs", "deep"), { recursive: true });
  writeFileSync(join(source, "docs", "a.txt"), "alpha\n");
  writeFileSync(join(source, "docs", "deep", "b.txt"), "beta\n");
  writeFileSync(join(source, "big.bin"), BIG);
  const init = await cli(["init", repo]);
  expect(init.code, init.stderr).toBe(0);
  const backup = await cli(["backup", source, repo]);
  expect(backup.code, backup.stderr).toBe(0);
});

afterAll(async () => {
  await removeDir(work);
});

describe("the built CLI", () => {
  it("find --json prints one JSON object per match", async () => {
    const found = await cli(["find", repo, "*.txt", "--json"]);
    expect(found.code, found.stderr).toBe(0);
    const lines = found.stdout.trim().split("\n");
    expect(
      lines.map((line) => (JSON.parse(line) as { path: string }).path),
    ).toEqual(["docs/a.txt", "docs/deep/b.txt"]);
  });

  it("stats --json prints one JSON object with the deduplication ratio", async () => {
    const stats = await cli(["stats", repo, "--json"]);
    expect(stats.code, stats.stderr).toBe(0);
    const parsed = JSON.parse(stats.stdout) as {
      repository: {
        snapshots: number;
        dedupRatio: number;
        storedBytes: number;
      };
    };
    expect(parsed.repository.snapshots).toBe(1);
    expect(parsed.repository.storedBytes).toBeGreaterThan(BIG.length);
    expect(parsed.repository.dedupRatio).toBeGreaterThan(0);
  });

  it("dump writes a file's bytes, and a directory as tar that tar -x extracts", () => {
    const file = pipeline(["dump", repo, "latest", "big.bin"], "cat");
    expect(file.status, file.stderr).toBe(0);
    expect(file.read.equals(BIG)).toBe(true);
    const out = join(work, "extracted");
    mkdirSync(out);
    const tar = pipeline(
      ["dump", repo, "latest", "docs"],
      `tar -x -p -C '${out}'`,
    );
    expect(tar.status, tar.stderr).toBe(0);
    expect(
      treeDifferences(
        describeTree(join(source, "docs")),
        describeTree(join(out, "docs")),
      ),
    ).toEqual([]);
  });

  it("dump into a closed pipe (| head -c1) exits 0 without a word", () => {
    const piped = pipeline(
      ["dump", repo, "latest", "/"],
      "head -c1 >/dev/null",
    );
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe("");
  });

  it("version, --version, completion bash | bash -n and completion --json", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    const plain = await cli(["version"]);
    expect(plain.stdout).toMatch(
      new RegExp(`^blindsync ${version} \\(Node\\.js `),
    );
    const json = await cli(["version", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ version });
    expect((await cli(["--version"])).stdout.trim()).toBe(version);
    const completion = await cli(["completion", "bash"]);
    expect(completion.code, completion.stderr).toBe(0);
    const check = spawnSync("bash", ["-n"], { input: completion.stdout });
    expect(check.status, check.stderr.toString()).toBe(0);
    expect(completion.stdout).toContain("complete -o default");
    const fish = await cli(["completion", "fish", "--json"]);
    expect(JSON.parse(fish.stdout)).toMatchObject({
      shell: "fish",
      script: expect.stringContaining("complete -c blindsync") as unknown,
    });
  });

  it("a mistyped command word exits 2 with a suggestion", async () => {
    const typo = await cli(["snapshotz", repo]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'snapshotz'");
    expect(typo.stderr).toContain("did you mean 'snapshots'?");
    expect(isCleanError(typo.stderr)).toBe(true);
  });
});
