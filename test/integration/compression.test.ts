/**
 * `backup --compression auto|off|max` through the built CLI: what each mode stores, counted in
 * the repository's own SQLite file, and that every mode restores exactly. `off` exists for the
 * size oracle (docs/threat-model.md): it must leave no blob of the run compressed, trees and
 * the snapshot included, whether the workers or the main thread seal.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Repository } from "../../src/repo/index.js";
import { sealedBlobLength } from "../../src/repo/blob-codec.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { BlobKind } from "../../src/store/index.js";
import { runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const PASSWORD = "compression test passphrase";
/** The `blobs.kind` column's codes. */
const KINDS: readonly BlobKind[] = ["data", "tree", "snapshot"];

/** A log file: lines that repeat with small changes, as logs and text do (~3 MiB). */
function logText(bytes: number): string {
  const levels = ["INFO", "WARN", "DEBUG"];
  const lines: string[] = [];
  let length = 0;
  for (let index = 0; length < bytes; index++) {
    const line = `2026-01-${String((index % 28) + 1).padStart(2, "0")} ${levels[index % 3] ?? ""} worker ${index % 17} finished job ${index} in ${(index * 7) % 1000} ms\n`;
    lines.push(line);
    length += line.length;
  }
  return lines.join("");
}

interface Stored {
  readonly dataBytes: number;
  /** Per kind: blobs whose stored length is that of their plaintext stored raw. */
  readonly raw: Record<BlobKind, number>;
  readonly total: Record<BlobKind, number>;
}

/** Reads every blob row of the repository's database, and opens each to see its plaintext size. */
async function stored(repo: string): Promise<Stored> {
  const db = new Database(join(repo, "blindsync.sqlite"), { readonly: true });
  const rows = db.prepare("SELECT id, kind, length FROM blobs").all() as {
    id: Buffer;
    kind: number;
    length: number;
  }[];
  db.close();
  const store = await SqliteStore.open(repo, { readonly: true });
  const raw = { data: 0, tree: 0, snapshot: 0 };
  const total = { data: 0, tree: 0, snapshot: 0 };
  let dataBytes = 0;
  try {
    const repository = await Repository.open(
      store,
      new TextEncoder().encode(PASSWORD),
    );
    for (const row of rows) {
      const kind = KINDS[row.kind] as BlobKind;
      const plaintext = await repository.load(kind, new Uint8Array(row.id));
      total[kind] += 1;
      if (row.length === sealedBlobLength(plaintext.length)) raw[kind] += 1;
      if (kind === "data") dataBytes += row.length;
    }
  } finally {
    await store.close();
  }
  return { dataBytes, raw, total };
}

describe("backup --compression", () => {
  let work: string;
  let source: string;
  let logSize: number;
  const results = new Map<string, Stored>();

  /** Backs up `source` into a new repository `name`, restores it, and records what it stored. */
  async function backupWith(
    name: string,
    args: readonly string[],
    env: Record<string, string> = {},
  ): Promise<Stored> {
    const repo = join(work, name);
    const cacheDir = join(work, `cache-${name}`);
    const options = {
      cacheDir,
      env: { BLINDSYNC_PASSWORD: PASSWORD, ...env },
    };
    const init = await runCli(["init", repo], options);
    expect(init.code, init.stderr).toBe(0);
    const backup = await runCli(["backup", source, repo, ...args], options);
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, `restored-${name}`);
    const restore = await runCli(["restore", repo, target], options);
    expect(restore.code, restore.stderr).toBe(0);
    expect(readdirSync(target).sort()).toEqual(readdirSync(source).sort());
    for (const file of readdirSync(join(source, "names")))
      expect(readFileSync(join(target, "names", file))).toEqual(
        readFileSync(join(source, "names", file)),
      );
    expect(
      readFileSync(join(target, "app.log")).equals(
        readFileSync(join(source, "app.log")),
      ),
    ).toBe(true);
    const result = await stored(repo);
    results.set(name, result);
    return result;
  }

  beforeAll(async () => {
    work = await tempDir("blindsync-compression-");
    source = join(work, "source");
    mkdirSync(join(source, "names"), { recursive: true });
    const log = logText(3 * 1024 * 1024);
    writeFileSync(join(source, "app.log"), log);
    logSize = Buffer.byteLength(log);
    // Long, similar names make the directory's tree blob compress well under auto.
    for (let index = 0; index < 60; index++)
      writeFileSync(
        join(
          source,
          "names",
          `quarterly-report-for-the-finance-department-draft-${index}.txt`,
        ),
        `report ${index}\n`,
      );
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("off stores every blob raw, data, trees and snapshot: at least the file's size", async () => {
    const off = await backupWith("off", ["--compression", "off"]);
    expect(off.dataBytes).toBeGreaterThanOrEqual(logSize);
    expect(off.raw).toEqual(off.total);
  });

  it("auto (the default) stores the compressible file in far less, trees compressed too", async () => {
    const auto = await backupWith("auto", []);
    expect(auto.dataBytes).toBeLessThan(logSize / 4);
    expect(auto.raw.tree).toBeLessThan(auto.total.tree);
  });

  it("max stores at most what auto stores", async () => {
    const max = await backupWith("max", ["--compression", "max"]);
    const auto = results.get("auto");
    expect(auto).toBeDefined();
    expect(max.dataBytes).toBeLessThanOrEqual(auto?.dataBytes ?? 0);
    expect(max.dataBytes).toBeLessThan(logSize / 4);
  });

  it("BLINDSYNC_COMPRESSION=off is the default when no flag is given, also when the main thread seals", async () => {
    const off = await backupWith("env-off", [], {
      BLINDSYNC_COMPRESSION: "off",
      BLINDSYNC_WORKERS: "0",
    });
    expect(off.dataBytes).toBeGreaterThanOrEqual(logSize);
    expect(off.raw).toEqual(off.total);
  });

  it("--compression overrides BLINDSYNC_COMPRESSION", async () => {
    const auto = await backupWith("flag-over-env", ["--compression", "auto"], {
      BLINDSYNC_COMPRESSION: "off",
    });
    expect(auto.dataBytes).toBeLessThan(logSize / 4);
  });

  it("an unknown mode is a usage error (exit 2) naming the modes, before anything is touched", async () => {
    const cacheDir = join(work, "cache-usage");
    const repo = join(work, "never-made");
    for (const [args, env] of [
      [["--compression", "fast"], {}],
      [[], { BLINDSYNC_COMPRESSION: "fast" }],
    ] as const) {
      const result = await runCli(["backup", source, repo, "--init", ...args], {
        cacheDir,
        env: { BLINDSYNC_PASSWORD: PASSWORD, ...env },
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('"fast" is not a compression mode');
      expect(result.stderr).toContain("auto, off or max");
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(readdirSync(work)).not.toContain("never-made");
  });

  it("--help teaches the modes and why one would turn compression off", async () => {
    const help = await runCli(["backup", "--help"], {
      cacheDir: join(work, "cache-help"),
    });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--compression <mode>");
    expect(help.stdout).toContain("BLINDSYNC_COMPRESSION");
    expect(help.stdout).toMatch(/CRIME/);
  });
});
