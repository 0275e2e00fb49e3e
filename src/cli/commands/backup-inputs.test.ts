/**
 * What a backup takes besides regular files and directories: named pipes, sockets, a stream on
 * standard input (in process here; the piped CLI is test/integration/backup-stdin.test.ts),
 * and the owner names kept beside the numbers.
 */
import { execFileSync } from "node:child_process";
import { lstatSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { freshRepository } from "../../../test/helpers/command-context.js";
import { runBackup } from "./backup.js";
import { runLs, runSnapshots } from "./browse.js";
import { runRestore } from "./restore.js";

const fresh = freshRepository({
  source: { "a.txt": "alpha\n" },
  init: true,
});

describe("backup of named pipes and sockets", () => {
  it("stores a fifo without opening it, and restore recreates it with its mode", async () => {
    const fifo = join(fresh.source, "pipe");
    execFileSync("mkfifo", ["-m", "0620", fifo]);
    // Not an ignore file to read either: the walk and the prewalk must not open it.
    execFileSync("mkfifo", [join(fresh.source, ".blindsyncignore")]);
    // Nobody ever writes to the pipes: a backup that opened one would wait here for ever.
    const result = await runBackup(fresh.context.with(), {
      repository: fresh.repository,
      sources: [fresh.source],
    });
    expect(result).toMatchObject({ files: 1, warnings: 0 });
    const target = join(fresh.dir, "restored");
    const restored = await runRestore(fresh.context.with(), {
      repository: fresh.repository,
      target,
    });
    expect(restored.errors).toBe(0);
    const stat = lstatSync(join(target, "pipe"));
    expect(stat.isFIFO()).toBe(true);
    expect(stat.mode & 0o7777).toBe(0o620);
    expect(stat.mtimeMs).toBe(lstatSync(fifo).mtimeMs);
    expect(lstatSync(join(target, ".blindsyncignore")).isFIFO()).toBe(true);
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe("alpha\n");
  });

  it("skips a socket with a warning, and the backup still succeeds", async () => {
    const server = createServer();
    const socket = join(fresh.source, "sock");
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const backup = fresh.context.with();
      const result = await runBackup(backup, {
        repository: fresh.repository,
        sources: [fresh.source],
      });
      expect(result).toMatchObject({ files: 1, warnings: 0 });
      expect(backup.stderr.text()).toMatch(
        /Skipped ".*sock": not a regular file, directory, symlink or fifo/,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("owner names", () => {
  it("ls -l shows the owner's and group's names, and --json gives names and numbers", async () => {
    await runBackup(fresh.context.with(), {
      repository: fresh.repository,
      sources: [fresh.source],
    });
    const { uid, gid } = statSync(join(fresh.source, "a.txt"));
    const user = userInfo().username;
    const long = fresh.context.with();
    await runLs(long, { repository: fresh.repository, long: true });
    expect(long.take()).toEqual([
      expect.stringMatching(
        new RegExp(`^-\\S{9} ${user} +\\S+ +6 .* a\\.txt$`),
      ),
    ]);
    const json = fresh.context.with({ json: true });
    await runLs(json, { repository: fresh.repository });
    expect(json.json()).toContainEqual(
      expect.objectContaining({ path: "a.txt", uid, gid, user }),
    );
  });
});

describe("backup --stdin", () => {
  it("stores an empty stream as an empty file named stdin, at /stdin, mode 0600", async () => {
    const result = await runBackup(fresh.context.with(), {
      repository: fresh.repository,
      sources: [],
      stdin: true,
      stdinInput: Readable.from([]),
    });
    expect(result).toMatchObject({ files: 1, bytes: 0, warnings: 0 });
    const listed = fresh.context.with({ json: true });
    const [snapshot] = await runSnapshots(listed, fresh.repository);
    expect(snapshot?.paths).toEqual(["/stdin"]);
    const target = join(fresh.dir, "restored");
    await runRestore(fresh.context.with(), {
      repository: fresh.repository,
      target,
    });
    const stat = lstatSync(join(target, "stdin"));
    expect(stat.size).toBe(0);
    expect(stat.mode & 0o7777).toBe(0o600);
  });

  it("refuses sources beside it, a path as its name, a name without it and a terminal as usage errors, writing nothing", async () => {
    const cases = [
      [{ sources: ["x"], stdin: true }, /^--stdin takes no sources beside it/],
      [
        { sources: [], stdin: true, stdinFilename: "a/b.sql" },
        /^--stdin-filename "a\/b\.sql" is not a file name$/,
      ],
      [
        { sources: ["x"], stdinFilename: "db.sql" },
        /^--stdin-filename needs --stdin$/,
      ],
      [
        {
          sources: [],
          stdin: true,
          stdinInput: Object.assign(Readable.from([]), { isTTY: true }),
        },
        /^--stdin reads a pipe or a file/,
      ],
    ] as const;
    for (const [flags, message] of cases) {
      const refused: unknown = await runBackup(fresh.context.with(), {
        repository: fresh.repository,
        ...flags,
      }).catch((error: unknown) => error);
      expect(refused).toMatchObject({ kind: "usage" });
      expect((refused as Error).message).toMatch(message);
    }
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toHaveLength(0);
  });
});
