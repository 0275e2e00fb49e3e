/**
 * Issue 17, item 4: output into a closed pipe ends quietly. Real shell pipelines (bash, the
 * real built CLI, coreutils `head`): a listing or `cat` whose reader has gone exits 0 with no
 * stack trace; a backup whose stdout (or stderr) reader has gone still saves its snapshot and
 * releases its lock, so a prune right after it does not find a lease.
 */
import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, type CliResult, runCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { seededBytes } from "../helpers/prng.js";
import { listeningSockets } from "../helpers/sockets.js";
import { removeDir, tempDir } from "../helpers/trees.js";

let work: string;
let cacheDir: string;
let repo: string;
let source: string;

const cli = (args: readonly string[]): Promise<CliResult> =>
  runCli(args, { cacheDir });

interface Piped {
  /** blindsync's exit status inside the pipeline (bash's PIPESTATUS[0]). */
  readonly status: number;
  /** What the reader (head) printed. */
  readonly read: Buffer;
  /** blindsync's stderr, or what reached the file it was sent to. */
  readonly stderr: string;
}

/**
 * Runs `blindsync ARGS <redirections> | READER` in bash and reports blindsync's own status.
 * `redirect` rewires blindsync's streams before the pipe, e.g. `2>&1 >/dev/null` to pipe
 * stderr instead of stdout.
 */
function pipeline(
  args: readonly string[],
  reader: string,
  redirect = `2>"$ERR"`,
): Promise<Piped> {
  const quoted = args.map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(" ");
  const errFile = join(work, `stderr-${String(Math.random()).slice(2)}`);
  const script = `"$NODE" "$CLI" ${quoted} ${redirect} | ${reader}; echo "status=\${PIPESTATUS[0]}" >&2`;
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], {
      env: {
        ...process.env,
        NODE: process.execPath,
        CLI,
        ERR: errFile,
        BLINDSYNC_PASSWORD: TEST_PASSWORD,
        BLINDSYNC_CACHE_DIR: cacheDir,
        BLINDSYNC_KDF_LOGN: "15",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let status = "";
    child.stdout.on("data", (data: Buffer) => out.push(data));
    child.stderr.on("data", (data: Buffer) => (status += data.toString()));
    child.on("error", reject);
    child.on("close", () => {
      void fsp
        .readFile(errFile, "utf8")
        .catch(() => "")
        .then((stderr) => {
          const match = /status=(\d+)/.exec(status);
          resolve({
            status: match === null ? -1 : Number(match[1]),
            read: Buffer.concat(out),
            stderr: stderr + status.replace(/status=\d+\n?/, ""),
          });
        });
    });
  });
}

function expectNoStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/EPIPE|node:events|Unhandled|^\s+at /m);
  expect(stderr).not.toMatch(/unexpected error/);
}

/** A tree of many directories: a backup reports progress (and warnings) once per directory. */
async function buildSource(root: string, dirs: number): Promise<void> {
  for (let d = 0; d < dirs; d++) {
    const dir = join(root, `directory-${String(d).padStart(3, "0")}`);
    await fsp.mkdir(dir, { recursive: true });
    for (let f = 0; f < 40; f++)
      await fsp.writeFile(
        join(dir, `a-file-with-a-rather-long-name-to-fill-the-pipe-${f}.txt`),
        `${d}/${f}\n`,
      );
    await fsp.writeFile(join(dir, "random.bin"), seededBytes(d + 1, 64 * 1024));
  }
}

beforeAll(async () => {
  work = await tempDir("blindsync-closed-pipe-");
  cacheDir = join(work, "cache");
  repo = join(work, "repo");
  source = join(work, "source");
  // 120 directories of 40 names: `ls` prints about 400 KiB, far more than a pipe holds, so
  // the writes after head exits cannot all land in the pipe's buffer.
  await buildSource(source, 120);
  await fsp.writeFile(join(source, "big.bin"), seededBytes(7, 8 << 20));
  const init = await cli(["init", repo]);
  expect(init.code, init.stderr).toBe(0);
  const backup = await cli(["backup", source, repo]);
  expect(backup.code, backup.stderr).toBe(0);
});

afterAll(async () => {
  await removeDir(work);
});

describe("output into a closed pipe", () => {
  it("ls REPO | head -2 prints two lines and exits 0 without a stack trace", async () => {
    const piped = await pipeline(["ls", repo], "head -2");
    expectNoStackTrace(piped.stderr);
    expect(piped.stderr).toBe("");
    expect(piped.read.toString().split("\n")).toHaveLength(3);
    expect(piped.status).toBe(0);
  });

  it("ls -l, snapshots and diff into head -1 exit 0 too, and so does --help", async () => {
    for (const args of [
      ["ls", "-l", repo],
      ["ls", "--json", repo],
      ["diff", repo, "latest", "latest"],
      ["--help"],
    ]) {
      const piped = await pipeline(args, "head -c 1");
      expectNoStackTrace(piped.stderr);
      expect(piped.status, args.join(" ")).toBe(0);
    }
  });

  it("cat REPO PATH | head -c 10 gives the file's first 10 bytes and exits 0", async () => {
    const piped = await pipeline(["cat", repo, "big.bin"], "head -c 10");
    expectNoStackTrace(piped.stderr);
    expect(piped.stderr).toBe("");
    expect(piped.read).toEqual(seededBytes(7, 10));
    expect(piped.status).toBe(0);
  });

  it("a reader that never reads (| true) ends ls quietly as well", async () => {
    const piped = await pipeline(["ls", "-l", repo], "true");
    expectNoStackTrace(piped.stderr);
    expect(piped.status).toBe(0);
  });

  it("backup --json | head -1 still saves its snapshot, exits 0, and leaves no lease for prune", async () => {
    const more = join(work, "source-json");
    await buildSource(more, 60);
    const before = await cli(["snapshots", "--json", repo]);
    const count = (JSON.parse(before.stdout) as unknown[]).length;

    const piped = await pipeline(
      ["backup", more, repo, "--json", "--tag", "piped"],
      "head -1",
    );
    expectNoStackTrace(piped.stderr);
    expect(JSON.parse(piped.read.toString())).toMatchObject({
      type: "status",
    });
    expect(piped.status, piped.stderr).toBe(0);

    const after = await cli(["snapshots", "--json", repo]);
    const snapshots = JSON.parse(after.stdout) as { tags: string[] }[];
    expect(snapshots).toHaveLength(count + 1);
    expect(snapshots.at(-1)?.tags).toEqual(["piped"]);
    const listing = await cli(["ls", "-s", "latest", repo]);
    expect(listing.stdout.split("\n").filter((l) => l !== "")).toHaveLength(
      60 * 41 + 60,
    );

    // The backup released its lock: a prune that does not wait for one succeeds at once.
    const prune = await cli(["prune", "--lock-wait", "0", repo]);
    expect(prune.code, prune.stderr).toBe(0);
  });

  it("a backup whose stderr reader has gone (warnings into | head -1) still saves its snapshot", async () => {
    // A socket per directory: each is skipped with a warning on stderr (not a failure: exit 0).
    const warned = join(work, "source-warned");
    await buildSource(warned, 40);
    const closeSockets = await listeningSockets(
      Array.from({ length: 40 }, (_, d) =>
        join(warned, `directory-${String(d).padStart(3, "0")}`, "sock"),
      ),
    );
    const before = await cli(["snapshots", "--json", repo]);
    const count = (JSON.parse(before.stdout) as unknown[]).length;

    const piped = await pipeline(
      ["backup", warned, repo, "--tag", "stderr-gone"],
      "head -1",
      `2>&1 >/dev/null`,
    ).finally(closeSockets);
    expect(piped.read.toString()).toMatch(/^warning: Skipped .*sock/);
    expectNoStackTrace(piped.read.toString());
    expect(piped.status).toBe(0);

    const after = await cli(["snapshots", "--json", repo]);
    const snapshots = JSON.parse(after.stdout) as { tags: string[] }[];
    expect(snapshots).toHaveLength(count + 1);
    expect(snapshots.at(-1)?.tags).toEqual(["stderr-gone"]);
  });

  it("a write error that is not a closed pipe still fails: ls > /dev/full exits 1 and says why", async () => {
    const piped = await pipeline(["ls", repo], "cat", `>/dev/full 2>"$ERR"`);
    expect(piped.status).toBe(1);
    expect(piped.stderr).toMatch(/Cannot write the output: ENOSPC/);
    expectNoStackTrace(piped.stderr);
  });
});
