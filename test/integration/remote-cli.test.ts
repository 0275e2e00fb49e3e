/**
 * blindsync against a real OpenSSH sshd on 127.0.0.1, through the real executable on both ends:
 * the edge-case tree round-trips with both location forms, and the bytes that cross ssh are
 * counted outside the tool by a wrapper around the ssh command.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  appendFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpuHasAes } from "../../src/util/cpu-features.js";
import { CLI, PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { databaseOf } from "../helpers/database.js";
import { seededBytes } from "../helpers/prng.js";
import {
  buildEdgeCaseTree,
  describeTree,
  directoryDifferences,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";
import { startSshd, type Sshd } from "../helpers/sshd.js";

describe("the CLI over a real sshd", () => {
  let sshd: Sshd;
  let work: string;
  let source: string;
  let repoPath: string;
  let countLog: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    sshd = await startSshd();
    work = await tempDir();
    source = join(work, "source");
    repoPath = join(work, "remote-repo");
    countLog = join(work, "bytes.log");
    await buildEdgeCaseTree(source, { bigFileBytes: 12 * 1024 * 1024 });
    env = {
      BLINDSYNC_SSH: `${process.execPath} ${join(PROJECT_ROOT, "test/helpers/count-bytes.js")} ${countLog} ${sshd.sshCommand}`,
      BLINDSYNC_REMOTE_CMD: `${process.execPath} ${CLI}`,
    };
  });

  afterAll(async () => {
    await sshd.stop();
    await removeDir(work);
  });

  /** Runs the CLI and returns its result with the bytes its ssh connections moved. */
  async function remote(args: string[], cacheDir = join(work, "cache")) {
    rmSync(countLog, { force: true });
    const result = await runCli(args, { cacheDir, env });
    const lines = existsSync(countLog)
      ? readFileSync(countLog, "utf8").trim().split("\n")
      : [];
    let sent = 0;
    let received = 0;
    for (const line of lines) {
      const [up, down] = line.split(" ").map(Number);
      sent += up ?? 0;
      received += down ?? 0;
    }
    return { ...result, sent, received };
  }

  it("round-trips the edge-case tree with host:path and ssh://host:port/path", async () => {
    const init = await remote(["init", `127.0.0.1:${repoPath}`]);
    expect(init.code, init.stderr).toBe(0);
    expect(existsSync(databaseOf(repoPath))).toBe(true);
    const backup = await remote([
      "backup",
      source,
      `root@127.0.0.1:${repoPath}`,
    ]);
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, "restored");
    const restore = await remote([
      "restore",
      `ssh://root@127.0.0.1:${sshd.port}${repoPath}`,
      target,
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, target)).toEqual([]);
  });

  it("nothing on the wire is plaintext: the bytes ssh carried contain no name or content", async () => {
    rmSync(countLog, { force: true });
    const capture = join(work, "capture");
    const captureEnv = {
      ...env,
      BLINDSYNC_SSH: `${process.execPath} ${join(PROJECT_ROOT, "test/helpers/tee-bytes.js")} ${capture} ${sshd.sshCommand}`,
    };
    writeFileSync(
      join(source, "canary-name-7f3a.txt"),
      "canary-content-91bd\n",
    );
    const result = await runCli(["backup", source, `127.0.0.1:${repoPath}`], {
      cacheDir: join(work, "cache"),
      env: captureEnv,
    });
    expect(result.code, result.stderr).toBe(0);
    const wire = readFileSync(capture);
    expect(wire.length).toBeGreaterThan(1000);
    for (const needle of [
      "canary-name-7f3a",
      "canary-content-91bd",
      "hello blindsync",
      "plain.txt",
      "nested",
    ]) {
      expect(wire.includes(Buffer.from(needle)), needle).toBe(false);
    }
  });

  it("a backup with nothing changed moves at most 256 KiB over ssh", async () => {
    const result = await remote(["backup", source, `127.0.0.1:${repoPath}`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent + result.received).toBeGreaterThan(0);
    expect(result.sent + result.received).toBeLessThanOrEqual(256 * 1024);
  });

  it("a small change sends only a few MiB", async () => {
    const big = readFileSync(join(source, "big.bin"));
    const middle = Math.floor(big.length / 2);
    writeFileSync(
      join(source, "big.bin"),
      Buffer.concat([
        big.subarray(0, middle),
        Buffer.from("!"),
        big.subarray(middle),
      ]),
    );
    appendFileSync(join(source, "plain.txt"), "a small edit\n");
    mkdirSync(join(source, "new-dir"), { recursive: true });
    writeFileSync(join(source, "new-dir", "new.bin"), seededBytes(5, 10_000));
    const result = await remote(["backup", source, `127.0.0.1:${repoPath}`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent).toBeLessThan(12 * 1024 * 1024);
    expect(result.sent).toBeLessThan(big.length);
  });

  it("a second machine with an empty cache re-sends nothing the server holds", async () => {
    const result = await remote(
      ["backup", source, `127.0.0.1:${repoPath}`],
      join(work, "second-machine-cache"),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Added 0 blobs/);
    // Have/need queries for ~20 chunk ids and the snapshot: far below one chunk of data.
    expect(result.sent).toBeLessThan(256 * 1024);
  });

  it("forget --prune and check --read-data work over ssh as they do locally", async () => {
    const forget = await remote([
      "forget",
      `127.0.0.1:${repoPath}`,
      "--keep-last",
      "1",
      "--prune",
    ]);
    expect(forget.code, forget.stderr).toBe(0);
    expect(forget.stdout).toMatch(/Removed \d+ snapshots, kept 1/);
    expect(forget.stdout).toMatch(/Deleted [1-9]\d* unreferenced blobs?/);
    const check = await remote([
      "check",
      `127.0.0.1:${repoPath}`,
      "--read-data",
    ]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const target = join(work, "restored-after-prune");
    const restore = await remote(["restore", `127.0.0.1:${repoPath}`, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );
  });

  it("asks ssh for AES-GCM once the server has said its CPU has AES instructions", async () => {
    const cacheDir = join(work, "cache-ciphers");
    const location = `127.0.0.1:${join(work, "repo-ciphers")}`;
    /** The ciphers ssh negotiated (`-v` makes it log them), one per direction. */
    async function ciphersOf(args: string[], sshCommand: string) {
      const result = await runCli(args, {
        cacheDir,
        env: {
          BLINDSYNC_SSH: `${sshCommand} -v`,
          BLINDSYNC_REMOTE_CMD: `${process.execPath} ${CLI}`,
        },
      });
      expect(result.code, result.stderr).toBe(0);
      return [...result.stderr.matchAll(/kex: \S+ cipher: (\S+)/g)].map(
        (match) => match[1],
      );
    }
    // The first connection knows nothing of the server: ssh's own default.
    expect(await ciphersOf(["init", location], sshd.sshCommand)).toEqual([
      "chacha20-poly1305@openssh.com",
      "chacha20-poly1305@openssh.com",
    ]);
    const expected = cpuHasAes()
      ? "aes128-gcm@openssh.com"
      : "chacha20-poly1305@openssh.com";
    expect(await ciphersOf(["snapshots", location], sshd.sshCommand)).toEqual([
      expected,
      expected,
    ]);
    // A cipher the user names wins.
    expect(
      await ciphersOf(
        ["snapshots", location],
        `${sshd.sshCommand} -c aes256-ctr`,
      ),
    ).toEqual(["aes256-ctr", "aes256-ctr"]);
  });
});
