/**
 * `blindsync copy` with a repository at the end of a connection: local to a real sshd and back
 * (the edge-case tree restored exactly from each copy, and a copy of a copy recognised as one),
 * and a copy interrupted by Ctrl-C mid-upload, which loses nothing and is finished by the next
 * run without sending again what was stored. The upload goes through the throttled stand-in
 * for ssh (test/helpers/throttled.ts), so the signal comes mid-upload on any machine.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runCopy } from "../../src/cli/commands/copy.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runRestore } from "../../src/cli/commands/restore.js";
import { isCleanError, runCli, spawnCli } from "../helpers/cli.js";
import { testContext, type TestContext } from "../helpers/command-context.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { blindsyncShellCommand } from "../helpers/serve-process.js";
import { startSshd, type Sshd } from "../helpers/sshd.js";
import { throttledRepository } from "../helpers/throttled.js";
import {
  buildEdgeCaseTree,
  directoryDifferences,
  removeDir,
  tempDir,
} from "../helpers/trees.js";

describe("copy over ssh", () => {
  let sshd: Sshd;
  let context: TestContext;
  let dir: string;
  let cleanup: () => void;

  beforeAll(async () => {
    sshd = await startSshd();
    ({ context, dir, cleanup } = testContext({
      globals: { ssh: sshd.sshCommand, remoteCmd: blindsyncShellCommand() },
    }));
  });

  afterAll(async () => {
    await sshd.stop();
    cleanup();
  });

  it("local to ssh and back restores the edge-case tree exactly; a copy of the copy is recognised", async () => {
    const source = join(dir, "source");
    const local = join(dir, "local");
    const remote = `127.0.0.1:${join(dir, "remote")}`;
    const back = join(dir, "back");
    await buildEdgeCaseTree(source);
    for (const repository of [local, remote, back])
      await runInit(context.with(), { repository });
    await runBackup(context.with(), { repository: local, sources: [source] });
    // One passphrase on both sides here: what matters is the two connections.
    const both = context.with({
      env: { BLINDSYNC_FROM_PASSWORD: TEST_PASSWORD },
    });
    expect(
      (await runCopy(both, { from: local, to: remote })).copied,
    ).toHaveLength(1);
    expect(
      (await runCopy(both, { from: remote, to: back })).copied,
    ).toHaveLength(1);
    for (const [name, repository] of [
      ["remote", remote],
      ["back", back],
    ] as const) {
      const target = join(dir, `restored-${name}`);
      await runRestore(context.with(), { repository, target });
      expect(directoryDifferences(source, target), name).toEqual([]);
    }
    // `back` holds a copy of the copy, which names the original snapshot of `local`.
    const again = await runCopy(both, { from: local, to: back });
    expect(again.copied).toEqual([]);
    expect(again.skipped).toHaveLength(1);
  });
});

describe("a copy interrupted by Ctrl-C", () => {
  /** 16 MiB of random bytes at 4 MiB/s: about 4 s of upload. */
  const RATE = 4 * 1024 * 1024;
  const BIG = 16 * 1024 * 1024;
  let work: string;
  let cacheDir: string;

  beforeAll(async () => {
    work = await tempDir("blindsync-copy-interrupt-");
    cacheDir = join(work, "cache");
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("exits 130 saying nothing is lost; the next run finishes without sending the stored data again", async () => {
    const source = join(work, "source");
    mkdirSync(source);
    writeFileSync(join(source, "big.bin"), randomBytes(BIG));
    writeFileSync(join(source, "notes.txt"), "notes\n");
    const from = join(work, "from");
    const throttled = throttledRepository(join(work, "to"), RATE);
    const env = {
      ...throttled.env,
      BLINDSYNC_FROM_PASSWORD: TEST_PASSWORD,
    };
    const cli = (args: string[]) => runCli(args, { cacheDir, env });
    for (const args of [
      ["init", from],
      ["init", throttled.location],
      ["backup", source, from],
    ]) {
      const done = await cli(args);
      expect(done.code, done.stderr).toBe(0);
    }

    const running = spawnCli(["copy", from, throttled.location], {
      cacheDir,
      env,
    });
    // Until the copy holds the destination's lock, then long enough for a few 4 MiB batches
    // to be stored (`unlock` lists the locks it leaves; it removes only expired ones).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const listed = await cli(["unlock", throttled.location]);
      expect(listed.code, listed.stderr).toBe(0);
      if (listed.stdout.includes("Still held")) break;
      expect(running.exited(), "the copy ended before the signal").toBe(false);
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(100);
    }
    await sleep(2500);
    expect(running.exited(), "the copy ended before the signal").toBe(false);
    running.child.kill("SIGINT");
    const stopped = await running.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(
      /Copy interrupted by SIGINT: .*nothing is lost\. Run the same copy again to finish/,
    );
    expect(isCleanError(stopped.stderr), stopped.stderr).toBe(true);

    const again = await cli(["copy", "--json", from, throttled.location]);
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(
      again.stdout.trim().split("\n").at(-1) ?? "",
    ) as {
      copied: number;
      bytesAdded: number;
    };
    expect(summary.copied).toBe(1);
    // What the interrupted run stored is not sent again.
    expect(summary.bytesAdded).toBeLessThan(BIG - 4 * 1024 * 1024);
    const target = join(work, "restored");
    const restore = await cli(["restore", throttled.location, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, target)).toEqual([]);
  });
});
