/**
 * `producer | blindsync backup --stdin --stdin-filename NAME REPO` through the built CLI with a
 * real pipe, as a database dump is taken: the stream is stored as one file NAME in a snapshot
 * of its own, chunked like a file (the same dump again adds no data), and restore gives back
 * its exact bytes.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, cliEnv, runCli, type CliResult } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

/** Runs `blindsync ...args` with `bytes` written into its stdin through a pipe, in pieces. */
function pipeInto(
  args: readonly string[],
  bytes: Buffer,
  cacheDir: string,
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cliEnv({ cacheDir }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  // A CLI that refuses its arguments exits without reading: EPIPE here is expected then.
  child.stdin.on("error", () => undefined);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (data: Buffer) => out.push(data));
  child.stderr.on("data", (data: Buffer) => err.push(data));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code: code ?? -1,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        stdoutBytes,
      });
    });
  });
  // As a producer writes: 64 KiB at a time, the pipe's backpressure respected.
  void (async () => {
    for (let offset = 0; offset < bytes.length; offset += 65536) {
      if (child.stdin.destroyed) return;
      if (!child.stdin.write(bytes.subarray(offset, offset + 65536)))
        await new Promise<void>((resolve) => {
          const resume = (): void => {
            child.stdin.off("drain", resume);
            child.stdin.off("close", resume);
            resolve();
          };
          child.stdin.once("drain", resume);
          child.stdin.once("close", resume);
        });
    }
    child.stdin.end();
  })();
  return done;
}

describe("backup --stdin through a pipe", () => {
  let work: string;
  let repo: string;
  let cacheDir: string;
  const dump = seededBytes(21, 3 * 1024 * 1024 + 12345);

  beforeAll(async () => {
    work = await tempDir();
    repo = join(work, "repo");
    cacheDir = join(work, "cache");
    const init = await runCli(["init", repo], { cacheDir });
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("stores the stream as one file NAME that restore gives back byte for byte", async () => {
    const backup = await pipeInto(
      ["backup", "--json", "--stdin", "--stdin-filename", "db.sql", repo],
      dump,
      cacheDir,
    );
    expect(backup.code, backup.stderr).toBe(0);
    const summary = JSON.parse(backup.stdout.trim().split("\n").at(-1)!) as {
      files: number;
      bytes: number;
    };
    expect(summary).toMatchObject({ files: 1, bytes: dump.length });

    const listed = await runCli(["snapshots", "--json", repo], { cacheDir });
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ paths: ["/db.sql"] }),
    ]);
    const target = join(work, "restored");
    const restore = await runCli(["restore", repo, target], { cacheDir });
    expect(restore.code, restore.stderr).toBe(0);
    expect(readFileSync(join(target, "db.sql")).equals(dump)).toBe(true);
  });

  it("the same dump again adds no data, only its tree and snapshot", async () => {
    const again = await pipeInto(
      ["backup", "--json", "--stdin", "--stdin-filename", "db.sql", repo],
      dump,
      cacheDir,
    );
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout.trim().split("\n").at(-1)!) as {
      bytesAdded: number;
    };
    expect(summary.bytesAdded).toBeLessThan(4096);
  });

  it("sources beside --stdin are a usage error (exit 2), without a stack trace", async () => {
    const refused = await pipeInto(
      ["backup", "--stdin", work, repo],
      Buffer.from("x"),
      cacheDir,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--stdin takes no sources beside it/);
    expect(refused.stderr).not.toMatch(/^\s+at /m);
  });
});
