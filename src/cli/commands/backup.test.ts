import {
  accessSync,
  constants,
  lstatSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshRepository } from "../../../test/helpers/command-context.js";
import { runBackup } from "./backup.js";
import { runSnapshots } from "./browse.js";

const fresh = freshRepository({
  source: { "a.txt": "alpha\n", "sub/b.txt": "beta\n" },
  init: true,
});

describe("runBackup()", () => {
  it("saves a snapshot, prints the summary and the snapshot's id, and snapshots lists it", async () => {
    const result = await runBackup(fresh.context, {
      repository: fresh.repository,
      sources: [fresh.source],
      tags: ["first"],
    });
    expect(result.files).toBe(2);
    const [summary, saved] = fresh.context.take();
    expect(summary).toMatch(
      /^2 files \(2 new, 0 changed, 0 unchanged\), \d+ directories, .*; Added \d+ blobs/,
    );
    expect(saved).toMatch(/^Snapshot [0-9a-f]{8} saved$/);
    const listing = fresh.context.with();
    const snapshots = await runSnapshots(listing, fresh.repository);
    expect(snapshots).toHaveLength(1);
    expect(listing.take()[0]).toMatch(
      new RegExp(`^${saved!.slice(9, 17)} .* 2 files .*\\[first\\]$`),
    );
  });

  it("counts in the singular when there is one of a thing", async () => {
    await runBackup(fresh.context, {
      repository: fresh.repository,
      sources: [join(fresh.source, "sub")],
    });
    const [summary] = fresh.context.take();
    expect(summary).toMatch(
      /^1 file \(\d new, \d changed, \d unchanged\), 1 directory, /,
    );
  });

  it("--json prints a summary object; --dry-run saves nothing", async () => {
    const json = fresh.context.with({ json: true });
    await runBackup(json, {
      repository: fresh.repository,
      sources: [fresh.source],
      dryRun: true,
    });
    const summary = json.json().at(-1);
    expect(summary).toMatchObject({
      type: "summary",
      snapshot: null,
      files: 2,
      dryRun: true,
    });
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toHaveLength(0);
  });

  it("an unknown compression mode is a usage error before anything is read", async () => {
    await expect(
      runBackup(fresh.context, {
        repository: join(fresh.dir, "nowhere"),
        sources: [fresh.source],
        compression: "fast",
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: '--compression "fast" is not a compression mode',
      hint: "Use auto, off or max",
    });
  });

  it("a wrong passphrase is refused as wrong-passphrase and saves nothing", async () => {
    const wrong = fresh.context.with({ env: { BLINDSYNC_PASSWORD: "not it" } });
    await expect(
      runBackup(wrong, {
        repository: fresh.repository,
        sources: [fresh.source],
      }),
    ).rejects.toMatchObject({ kind: "wrong-passphrase" });
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toHaveLength(0);
  });

  it("a missing repository is no-repository, and --init creates it first", async () => {
    const elsewhere = join(fresh.dir, "other");
    await expect(
      runBackup(fresh.context.with(), {
        repository: elsewhere,
        sources: [fresh.source],
      }),
    ).rejects.toMatchObject({ kind: "no-repository" });
    const result = await runBackup(fresh.context.with(), {
      repository: elsewhere,
      sources: [fresh.source],
      init: true,
    });
    expect(result.snapshot).toBeDefined();
  });

  it("a missing source is a usage error that saves nothing", async () => {
    await expect(
      runBackup(fresh.context.with(), {
        repository: fresh.repository,
        sources: [fresh.source, join(fresh.dir, "missing")],
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: expect.stringContaining("Cannot back up") as unknown,
    });
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toHaveLength(0);
  });

  it.skipIf(process.getuid?.() === 0)(
    "an unreadable file is a partial backup (exit 3) that still saves its snapshot",
    async () => {
      writeFileSync(join(fresh.source, "secret"), "x", { mode: 0o000 });
      const partial = fresh.context.with();
      await expect(
        runBackup(partial, {
          repository: fresh.repository,
          sources: [fresh.source],
        }),
      ).rejects.toMatchObject({ kind: "partial" });
      expect(partial.stderr.text()).toMatch(/warning: .*secret/);
      await expect(
        runSnapshots(fresh.context.with(), fresh.repository),
      ).resolves.toHaveLength(1);
    },
  );

  it("-v lists new files with + and changed ones with M; the summary counts new, changed and unchanged", async () => {
    const first = fresh.context.with({ verbose: true });
    await runBackup(first, {
      repository: fresh.repository,
      sources: [fresh.source],
    });
    const lines = first.take();
    expect(lines.filter((line) => /^[+M] /.test(line)).sort()).toEqual([
      `+ ${join(fresh.source, "a.txt")}`,
      `+ ${join(fresh.source, "sub", "b.txt")}`,
    ]);
    expect(lines).toContainEqual(
      expect.stringMatching(/^2 files \(2 new, 0 changed, 0 unchanged\), /),
    );
    writeFileSync(join(fresh.source, "a.txt"), "alpha, changed\n");
    writeFileSync(join(fresh.source, "c.txt"), "gamma\n");
    const json = fresh.context.with({ verbose: true, json: true });
    await runBackup(json, {
      repository: fresh.repository,
      sources: [fresh.source],
    });
    const objects = json.json() as { type: string; path?: string }[];
    const files = objects.filter((object) => object.type === "file");
    expect(
      files.sort((a, b) => (a.path ?? "").localeCompare(b.path ?? "")),
    ).toEqual([
      { type: "file", change: "changed", path: join(fresh.source, "a.txt") },
      { type: "file", change: "new", path: join(fresh.source, "c.txt") },
    ]);
    expect(objects.at(-1)).toMatchObject({
      type: "summary",
      files: 3,
      filesNew: 1,
      filesChanged: 1,
      filesUnchanged: 1,
    });
  });

  it("--files-from adds listed sources and --exclude-larger-than skips big files", async () => {
    const small = join(fresh.dir, "small.txt");
    const big = join(fresh.dir, "big.bin");
    writeFileSync(small, "s");
    writeFileSync(big, Buffer.alloc(1025));
    writeFileSync(join(fresh.source, "sub", "large.bin"), Buffer.alloc(4096));
    writeFileSync(join(fresh.source, "sub", "limit.bin"), Buffer.alloc(1024));
    const list = join(fresh.dir, "list.txt");
    writeFileSync(list, `# extras\n${small}\n\n  ${big}\n${fresh.source}\n`);
    const run = fresh.context.with({ verbose: true });
    const result = await runBackup(run, {
      repository: fresh.repository,
      sources: [fresh.source],
      filesFrom: [list],
      excludeLargerThan: "1K",
    });
    expect(result.snapshot?.paths).toEqual([fresh.source, small, big]);
    expect(
      run
        .take()
        .filter((line) => line.startsWith("+ "))
        .sort(),
    ).toEqual(
      [
        `+ ${small}`,
        `+ ${join(fresh.source, "a.txt")}`,
        `+ ${join(fresh.source, "sub", "b.txt")}`,
        `+ ${join(fresh.source, "sub", "limit.bin")}`,
      ].sort(),
    );
  });

  it("a size that is none, or a missing --files-from list, is a usage error before the repository is opened", async () => {
    const nowhere = join(fresh.dir, "nowhere");
    await expect(
      runBackup(fresh.context.with(), {
        repository: nowhere,
        sources: [fresh.source],
        excludeLargerThan: "10X",
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: '--exclude-larger-than "10X" is not a size',
    });
    await expect(
      runBackup(fresh.context.with(), {
        repository: nowhere,
        sources: [],
        filesFrom: [join(fresh.dir, "no-list")],
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: expect.stringContaining("Cannot read --files-from") as unknown,
    });
  });

  it("draws a progress line on a terminal's stderr, and none elsewhere", async () => {
    const terminal = fresh.context.with({ terminal: true });
    await runBackup(terminal, {
      repository: fresh.repository,
      sources: [fresh.source],
    });
    const drawn = terminal.stderr.text();
    // Drawn in place: back to the line's start and cleared, then the line.
    expect(drawn.startsWith("\r\x1b[2K[0:0")).toBe(true);
    expect(drawn).toMatch(/\[0:0\d\] .*\d+ \/ \d+\+? files/);
    // Cleared before the summary, which goes to stdout.
    expect(drawn.endsWith("\r\x1b[2K")).toBe(true);
    const plain = fresh.context.with();
    await runBackup(plain, {
      repository: fresh.repository,
      sources: [fresh.source],
    });
    expect(plain.stderr.text()).toBe("");
  });

  /** /dev/shm, where it is a file system of its own below /dev that this user may write. */
  const shmMount = ((): boolean => {
    try {
      accessSync("/dev/shm", constants.W_OK);
      return lstatSync("/dev").dev !== lstatSync("/dev/shm").dev;
    } catch {
      return false;
    }
  })();

  it.skipIf(!shmMount)(
    "--one-file-system keeps a mount point below the source (/dev/shm in /dev) as an empty directory",
    async () => {
      const inShm = mkdtempSync("/dev/shm/blindsync-one-fs-");
      writeFileSync(join(inShm, "file"), "on another file system");
      try {
        const listed = async (oneFileSystem: boolean) => {
          const run = fresh.context.with({ verbose: true, json: true });
          await runBackup(run, {
            repository: fresh.repository,
            sources: ["/dev"],
            // Only this test's directory of all /dev: devices, pts and what others keep in
            // /dev/shm are not the point here.
            excludes: ["/*", "!/shm", "/shm/*", `!/shm/${basename(inShm)}`],
            oneFileSystem,
            dryRun: true,
          }).catch((error: unknown) => {
            // Another user's file in /dev/shm may be unreadable: a warning, not this test's.
            if ((error as { kind?: string }).kind !== "partial") throw error;
          });
          return run.json() as { type: string; path?: string; dirs?: number }[];
        };
        const crossing = await listed(false);
        expect(crossing).toContainEqual({
          type: "file",
          change: "new",
          path: join(inShm, "file"),
        });
        const staying = await listed(true);
        expect(staying.filter((object) => object.type === "file")).toEqual([]);
        // /dev and /dev/shm itself, nothing below it.
        expect(staying.at(-1)).toMatchObject({
          type: "summary",
          files: 0,
          dirs: 2,
        });
      } finally {
        rmSync(inShm, { recursive: true, force: true });
      }
    },
  );
});
