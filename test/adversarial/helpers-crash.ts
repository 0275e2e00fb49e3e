/**
 * Helpers of the rollback, foreign-repository, passphrase, nonce, crash and full-disk tests:
 * a CLI process the test can kill, byte-exact fingerprints of directories, a seeded PRNG, the
 * blob headers as they lie in a repository's database, and trees of many ~1 MiB files.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  readFileSync,
  readdirSync,
  readlinkSync,
} from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  CLI,
  PROJECT_ROOT,
  TEST_PASSWORD,
  type CliResult,
} from "../helpers/cli.js";
import { seededBytes } from "../helpers/trees.js";

export interface KillableCli {
  readonly child: ChildProcess;
  /** Resolves when the process has exited and its pipes are closed. */
  readonly done: Promise<CliResult & { readonly signal: string | null }>;
  /** True once `done` has resolved. */
  exited(): boolean;
}

/** Spawns the built CLI exactly as runCli does (same environment), but hands back the child. */
export function spawnCli(
  args: readonly string[],
  options: {
    readonly cacheDir: string;
    readonly env?: Record<string, string | undefined>;
  },
): KillableCli {
  const merged: Record<string, string | undefined> = {
    ...process.env,
    BLINDSYNC_PASSWORD: TEST_PASSWORD,
    BLINDSYNC_CACHE_DIR: options.cacheDir,
    BLINDSYNC_KDF_LOGN: "15",
    ...options.env,
  };
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(merged).filter(([, value]) => value !== undefined),
  );
  const child = spawn(process.execPath, [CLI, ...args], {
    env,
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (data: Buffer) => out.push(data));
  child.stderr.on("data", (data: Buffer) => err.push(data));
  const done = new Promise<CliResult & { signal: string | null }>(
    (resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) => {
        const stdoutBytes = Buffer.concat(out);
        resolve({
          code: code ?? -1,
          signal,
          stdout: stdoutBytes.toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
          stdoutBytes,
        });
      });
    },
  );
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  return { child, done, exited: () => finished };
}

/**
 * Every entry below `dir` as "relative-path type size sha256" lines, sorted: two equal results
 * mean the same names, types and bytes. `skip` leaves out names (e.g. SQLite's -shm index, a
 * shared-memory file that readers may touch). A missing directory gives ["<absent>"].
 */
export function fingerprint(
  dir: string,
  skip: (name: string, size: number) => boolean = () => false,
): string[] {
  if (!existsSync(dir)) return ["<absent>"];
  const lines: string[] = [];
  const visit = (path: string, relative: string): void => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const rel = relative === "" ? name : `${relative}/${name}`;
      const stat = lstatSync(full);
      if (skip(name, stat.size)) continue;
      if (stat.isDirectory()) {
        lines.push(`${rel} dir`);
        visit(full, rel);
      } else if (stat.isSymbolicLink()) {
        lines.push(`${rel} symlink ${readlinkSync(full)}`);
      } else {
        const sha = createHash("sha256")
          .update(readFileSync(full))
          .digest("hex");
        lines.push(`${rel} file ${stat.size} ${sha}`);
      }
    }
  };
  visit(dir, "");
  return lines;
}

/** mulberry32: a small seeded PRNG, so every random choice of a test is reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface StoredHeader {
  /** Hex of the 32-byte blob id. */
  readonly id: string;
  /** Hex of the 24-byte session id (header bytes 8..32). */
  readonly session: string;
  /** The 64-bit counter (header bytes 32..40). */
  readonly counter: bigint;
}

/** The session id and counter of every blob stored in the repository directory `repo`. */
export function storedHeaders(repo: string): StoredHeader[] {
  const db = openRepositoryDatabase(repo);
  try {
    db.pragma("busy_timeout = 10000");
    const rows = db
      .prepare(
        "SELECT b.id AS id, substr(d.data, 1, 40) AS head FROM blobs b JOIN blob_data d ON d.rowid = b.data_id",
      )
      .all() as { id: Buffer; head: Buffer }[];
    return rows.map((row) => {
      if (
        row.head.length !== 40 ||
        row.head.toString("latin1", 0, 4) !== "BSBL"
      )
        throw new Error(`blob ${row.id.toString("hex")} has no blob header`);
      return {
        id: row.id.toString("hex"),
        session: row.head.subarray(8, 32).toString("hex"),
        counter: row.head.readBigUInt64BE(32),
      };
    });
  } finally {
    db.close();
  }
}

/**
 * Writes `count` files of about 1 MiB each (seeded, incompressible, sizes 0.75–1.25 MiB) into
 * `root`, spread over two subdirectories, plus a small text file. Returns the root.
 */
export async function writeBigFiles(
  root: string,
  seed: number,
  count: number,
  names: (index: number) => string = (index) =>
    `${index % 2 === 0 ? "even" : "odd"}/file-${String(index).padStart(3, "0")}.bin`,
): Promise<string> {
  const random = seededRandom(seed);
  for (let index = 0; index < count; index++) {
    const path = join(root, names(index));
    await mkdir(join(path, ".."), { recursive: true });
    const size = Math.floor((0.75 + random() * 0.5) * 1024 * 1024);
    await writeFile(path, seededBytes(seed * 1000 + index + 1, size));
  }
  await writeFile(join(root, "notes.txt"), `seed ${seed}, ${count} files\n`);
  return root;
}

/** Sleeps for `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The fingerprint of a client cache directory, without what a read-only SQLite open of a WAL
 * database may create: the -shm index and an empty -wal file (readPin opens the cache that way
 * before the passphrase is checked). Neither holds data: the pin and every row stay in the
 * database file, or in a non-empty WAL, both of which are compared.
 */
export function cacheFingerprint(dir: string): string[] {
  return fingerprint(
    dir,
    (name, size) =>
      name.endsWith("-shm") || (name.endsWith("-wal") && size === 0),
  );
}

/** How many blobs the repository directory `repo` holds (a cheap query, for polling). */
export function storedBlobCount(repo: string): number {
  const db = openRepositoryDatabase(repo);
  try {
    db.pragma("busy_timeout = 10000");
    return db.prepare("SELECT count(*) FROM blobs").pluck().get() as number;
  } finally {
    db.close();
  }
}

/**
 * Opens a repository's database for reading. After a writer was killed mid-transaction its hot
 * journal can only be rolled back by a read-write connection (a read-only one fails), so the
 * database is opened read-write when a journal is present; these helpers only ever read.
 */
function openRepositoryDatabase(repo: string): Database.Database {
  const file = join(repo, "blindsync.sqlite");
  return new Database(file, {
    readonly: !existsSync(`${file}-journal`),
    fileMustExist: true,
  });
}
