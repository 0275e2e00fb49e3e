/**
 * A terminal's Ctrl-C during a backup over sftp (issue 19): the terminal sends SIGINT to the
 * whole foreground process group, ssh included. ssh runs with SIGINT ignored
 * (store/objects/sftp/ssh-process.ts), so the session outlives the signal long enough for the
 * client to release its lease: a prune right after runs at once instead of waiting for the
 * dead lease. The CLI is started as the leader of a process group of its own, and the group is
 * signalled, as a terminal does; the real ssh talks to the test sshd's sftp-server.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, cliEnv, isCleanError, runCli } from "../helpers/cli.js";
import {
  startPackBackend,
  type PackBackend,
} from "../helpers/pack-backends.js";
import { removeDir, tempDir } from "../helpers/trees.js";

describe("Ctrl-C in a terminal during a backup over sftp", () => {
  let backend: PackBackend;
  let work: string;
  let cacheDir: string;
  const NAME = "interrupted";

  beforeAll(async () => {
    backend = await startPackBackend("sftp");
    work = await tempDir("blindsync-packs-interrupt-");
    cacheDir = join(work, "cache");
  });

  afterAll(async () => {
    await backend.stop();
    await removeDir(work);
  });

  it("SIGINT to the whole process group: exit 130, the lease is released, and prune does not wait for it", async () => {
    const repo = backend.location(NAME);
    const env = backend.env();
    const cli = (args: string[]) => runCli(args, { cacheDir, env });
    expect((await cli(backend.initArgs(NAME))).code).toBe(0);
    const source = join(work, "source");
    mkdirSync(source);
    writeFileSync(join(source, "big.bin"), randomBytes(64 * 1024 * 1024));

    // detached: the CLI leads a process group of its own, which ssh joins, as in a terminal.
    const child = spawn(process.execPath, [CLI, "backup", source, repo], {
      env: cliEnv({ cacheDir, env }),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => {
      child.once("exit", (code) => {
        resolve(code);
      });
    });
    let done = false;
    void exited.then(() => {
      done = true;
    });
    const deadline = Date.now() + 60_000;
    while (backend.objects(NAME, "packs/").length === 0) {
      expect(done, "the backup ended before it stored a pack").toBe(false);
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(20);
    }
    expect(backend.objects(NAME, "locks/")).toHaveLength(1);
    expect(done, "the backup ended before the signal").toBe(false);
    process.kill(-child.pid!, "SIGINT");
    expect(await exited, stderr).toBe(130);
    expect(isCleanError(stderr), stderr).toBe(true);
    expect(stderr).toMatch(/interrupted by SIGINT/);

    expect(backend.objects(NAME, "locks/")).toEqual([]);
    const prune = await cli([
      "forget",
      repo,
      "--keep-last",
      "1",
      "--prune",
      "--lock-wait",
      "0",
    ]);
    expect(prune.code, prune.stderr).toBe(0);
  });
});
