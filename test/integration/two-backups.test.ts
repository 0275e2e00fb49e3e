/**
 * Two backups of the same location from one machine (one client cache) at the same time
 * (issue 17, a loose end of item 1). A backup holds its client cache's write transaction for
 * its whole run, so a second one used to wait 5 s on it and exit 1 with SQLite's "database is
 * locked". Now the second exits 11 at once, naming the running backup's pid, or with
 * --lock-wait waits for it and says so; and a backup killed with SIGKILL never locks the next
 * one out.
 *
 * The running backup goes through a stand-in for ssh that holds the upload to a fixed rate
 * (test/helpers/slow-ssh.js), so it runs for seconds on any machine, and the test checks that
 * it really holds the cache's write lock before starting the second.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Repository } from "../../src/repo/index.js";
import { SqliteStore } from "../../src/store/index.js";
import { bytesEqual } from "../../src/util/bytes.js";
import { CLI, PROJECT_ROOT, runCli, type CliResult } from "../helpers/cli.js";
import { throttledRepository, writeLocked } from "../helpers/throttled.js";
import { removeDir, tempDir } from "../helpers/trees.js";
import { locationDirs } from "../helpers/cache-dirs.js";

/**
 * The upload rate of the throttled backup: 24 MiB of random bytes take about 12 s, long enough
 * for the three commands each test starts beside it on a loaded 2-core machine (each spends
 * seconds just starting node there).
 */
const RATE = 2 * 1024 * 1024;
const BIG = 24 * 1024 * 1024;
const PASSWORD = "two backups at once";

interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult & { endedAt: number }>;
  exited(): boolean;
}

describe("two backups of one location from one machine", () => {
  let work: string;
  let source: string;
  let cacheDir: string;
  let repo: string;
  let env: Record<string, string>;
  const cli = (args: string[]) => runCli(args, { cacheDir, env });

  /** Starts a backup as runCli would, and hands back the process. */
  function start(args: string[]): Running {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        BLINDSYNC_CACHE_DIR: cacheDir,
        BLINDSYNC_KDF_LOGN: "15",
        ...env,
      },
      cwd: PROJECT_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (data: Buffer) => out.push(data));
    child.stderr.on("data", (data: Buffer) => err.push(data));
    let finished = false;
    const done = new Promise<CliResult & { endedAt: number }>(
      (resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code) => {
          finished = true;
          const stdoutBytes = Buffer.concat(out);
          resolve({
            code: code ?? -1,
            stdout: stdoutBytes.toString("utf8"),
            stderr: Buffer.concat(err).toString("utf8"),
            stdoutBytes,
            endedAt: Date.now(),
          });
        });
      },
    );
    return { child, done, exited: () => finished };
  }

  /** Starts a throttled backup of a fresh big file and waits until it holds the cache. */
  async function startHeldBackup(): Promise<Running> {
    writeFileSync(join(source, "big.bin"), randomBytes(BIG));
    const running = start(["backup", source, repo]);
    const [location] = locationDirs(cacheDir);
    const cacheFile = join(cacheDir, location ?? "", "cache.sqlite");
    const deadline = Date.now() + 60_000;
    while (!writeLocked(cacheFile)) {
      expect(running.exited(), "the backup ended before it held the lock").toBe(
        false,
      );
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(50);
    }
    return running;
  }

  async function snapshotSeqs(): Promise<number[]> {
    const listed = await cli(["snapshots", "--json", repo]);
    expect(listed.code, listed.stderr).toBe(0);
    return (JSON.parse(listed.stdout) as { seq: number }[])
      .map((snapshot) => snapshot.seq)
      .sort((a, b) => a - b);
  }

  function expectCleanFailure(result: CliResult): void {
    expect(result.stderr).not.toMatch(/database is locked/i);
    expect(result.stderr).not.toMatch(/unexpected error/i);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  }

  beforeAll(async () => {
    work = await tempDir("blindsync-two-backups-");
    source = join(work, "source");
    cacheDir = join(work, "cache");
    mkdirSync(source);
    // A remote location whose "ssh" runs `serve` here with the upload held to RATE.
    const throttled = throttledRepository(join(work, "repo"), RATE);
    repo = throttled.location;
    env = {
      BLINDSYNC_PASSWORD: PASSWORD,
      ...throttled.env,
    };
    expect((await cli(["init", repo])).code).toBe(0);
    writeFileSync(join(source, "notes.txt"), "first\n");
    const first = await cli(["backup", source, repo]);
    expect(first.code, first.stderr).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("the second exits 11 at once, naming the running backup's pid, and backs up once the first is done", async () => {
    const before = await snapshotSeqs();
    const running = await startHeldBackup();
    const pid = running.child.pid;

    const started = Date.now();
    const second = await cli(["backup", source, repo]);
    const took = Date.now() - started;
    expect(
      running.exited(),
      `the first backup finished before the second (${took} ms): nothing was shown`,
    ).toBe(false);
    expect(second.code, second.stderr).toBe(11);
    expectCleanFailure(second);
    expect(second.stderr).toMatch(
      new RegExp(
        `Another backup of ".*" is running on this machine .*\\(pid ${String(pid)}, started`,
      ),
    );
    expect(second.stderr).toMatch(/--lock-wait/);
    // The short form is the same backup, and fails the same way.
    const short = await cli([source, repo]);
    expect(short.code, short.stderr).toBe(11);

    const first = await running.done;
    expect(first.code, first.stderr).toBe(0);
    const again = await cli(["backup", source, repo]);
    expect(again.code, again.stderr).toBe(0);
    expect(await snapshotSeqs()).toHaveLength(before.length + 2);
  });

  it("with --lock-wait the second waits, says so, and follows the first in the head chain; a wait that runs out exits 11", async () => {
    const before = await snapshotSeqs();
    const running = await startHeldBackup();
    const pid = running.child.pid;

    const short = await cli(["backup", source, repo, "--lock-wait", "1s"]);
    expect(short.code, short.stderr).toBe(11);
    expectCleanFailure(short);
    expect(short.stderr).toMatch(/Waiting for the other backup/);
    expect(short.stderr).toMatch(/\(waited 1 s\)/);

    const waiting = await cli(["backup", source, repo, "--lock-wait", "5m"]);
    const endedAt = Date.now();
    expect(waiting.code, waiting.stderr).toBe(0);
    expect(waiting.stderr).toMatch(
      new RegExp(
        `Waiting for the other backup of ".*" from this machine \\(pid ${String(pid)}\\) to finish`,
      ),
    );
    const first = await running.done;
    expect(first.code, first.stderr).toBe(0);
    expect(first.endedAt).toBeLessThan(endedAt);
    // It listed the snapshots after the first one wrote its own: no fork in the chain.
    const top = before.at(-1) ?? 0;
    expect(await snapshotSeqs()).toEqual([...before, top + 1, top + 2]);
    // And its snapshot names the first one's as the previous head, not the one it saw at unlock.
    const store = await SqliteStore.open(join(work, "repo"), {
      readonly: true,
    });
    try {
      const keys = await Repository.open(
        store,
        new TextEncoder().encode(PASSWORD),
      );
      const snapshots = await keys.listSnapshots();
      const bySeq = (seq: number) => snapshots.find((s) => s.seq === seq);
      const firstHead = bySeq(top + 1);
      const previous = bySeq(top + 2)?.previous;
      expect(firstHead).toBeDefined();
      expect(
        previous !== null &&
          previous !== undefined &&
          firstHead !== undefined &&
          bytesEqual(previous, firstHead.id),
        "the waiting backup's snapshot follows the first one's",
      ).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("a backup killed with SIGKILL never locks the next one out", async () => {
    const before = await snapshotSeqs();
    const running = await startHeldBackup();
    const pid = running.child.pid;
    // What the killed backup leaves behind: its record, naming a process that is gone.
    const [location] = locationDirs(cacheDir);
    const holderFile = join(cacheDir, location ?? "", "backup.holder");
    expect(JSON.parse(readFileSync(holderFile, "utf8"))).toMatchObject({ pid });
    running.child.kill("SIGKILL");
    const killed = await running.done;
    expect(killed.code).toBe(-1);

    const next = await cli(["backup", source, repo]);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/Another backup|Waiting/);
    expect(await snapshotSeqs()).toHaveLength(before.length + 1);
    const check = await cli(["check", repo]);
    expect(check.code, check.stderr).toBe(0);
  });
});
