/**
 * The benchmark corpus: real small files copied from the system, one incompressible big file
 * and one compressible log, all deterministic; the scripted small change of scenario C; and the
 * manifests that check every restore against the corpus.
 *
 * Length: over 400 lines with one job, the corpus; its parts (the copy of system files, the
 * generated files, the change, the manifests) share the deterministic generator and layout.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  appendFile,
  chmod,
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { KeyStream } from "./prng.js";
import { log, MiB } from "./util.js";

export interface CorpusSpec {
  /** How many small files to copy from the system. */
  readonly smallFiles: number;
  readonly bigBytes: number;
  readonly logBytes: number;
}

export const FULL_CORPUS: CorpusSpec = {
  smallFiles: 40_000,
  bigBytes: 1024 * MiB,
  logBytes: 256 * MiB,
};
/**
 * Twice the full corpus, for the issue's check that peak memory stays the same at twice the
 * size. The system has fewer than 80,000 small files, so each is copied a second time under
 * `system-2/` with a line appended (other bytes, so nothing deduplicates).
 */
export const DOUBLE_CORPUS: CorpusSpec = {
  smallFiles: 80_000,
  bigBytes: 2048 * MiB,
  logBytes: 512 * MiB,
};
export const QUICK_CORPUS: CorpusSpec = {
  smallFiles: 2_000,
  bigBytes: 64 * MiB,
  logBytes: 16 * MiB,
};

/**
 * Where the small files come from, in this order: documentation, Python's standard library and
 * packages, C headers, then manual pages and other shared data to reach the count.
 */
const SOURCES = [
  "/usr/share/doc",
  "/usr/lib/python3",
  "/usr/lib/python3.11",
  "/usr/lib/python3.12",
  "/usr/lib/python3.13",
  "/usr/include",
  "/usr/share/man",
  "/usr/share/perl",
  "/usr/lib/node_modules",
  "/usr/share/vim",
  "/usr/share/i18n",
  "/usr/share/zoneinfo",
  "/usr/share/mime",
  "/usr/share/locale",
];
const MAX_SMALL_FILE = 1 * MiB;

export const BIG_FILE = "big.bin";
export const LOG_FILE = "logs/app.log";
/** Written last after every change, so the newest ctime is on a small file (borg's files cache). */
export const SENTINEL = "sentinel.txt";
const SYSTEM_DIR = "system";
/** The modification time of everything the scripted change touches (2030-01-01T00:00:00Z). */
const CHANGE_TIME = 1_893_456_000;

export interface CorpusInfo {
  readonly files: number;
  readonly bytes: number;
  /** Relative paths of the copied small files, sorted. */
  readonly smallFiles: readonly string[];
  /** The small file scenario E restores. */
  readonly oneFile: string;
  /** SHA-256 over the sorted manifest: the same corpus gives the same fingerprint. */
  readonly fingerprint: string;
}

async function listSources(): Promise<string[]> {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const source of SOURCES) {
    let entries;
    try {
      entries = await readdir(source, { recursive: true, withFileTypes: true });
    } catch {
      continue;
    }
    const files: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      // Plain, portable names only: the peers' include patterns and our table stay simple.
      if (!/^[\w@%+=:,./-]+$/.test(path) || seen.has(path)) continue;
      seen.add(path);
      files.push(path);
    }
    files.sort();
    for (const path of files) {
      try {
        const info = await stat(path);
        if (info.size <= MAX_SMALL_FILE) found.push(path);
      } catch {
        // unreadable: skip
      }
    }
  }
  return found;
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  });
  await Promise.all(workers);
}

async function writeStream(
  path: string,
  bytes: number,
  block: (length: number) => Buffer,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, "w");
  try {
    let written = 0;
    while (written < bytes) {
      const length = Math.min(4 * MiB, bytes - written);
      const data = block(length);
      await handle.write(data, 0, length);
      written += length;
    }
  } finally {
    await handle.close();
  }
}

const WORDS =
  "the a request response cache miss hit user session token expired renewed connection opened closed reset timeout retry backoff queue job started finished failed database query slow index scan row rows commit rollback lock acquired released upstream downstream healthy unhealthy config reload shard replica primary".split(
    " ",
  );
const SERVICES = [
  "api",
  "auth",
  "db",
  "cache",
  "worker",
  "scheduler",
  "gateway",
  "billing",
];
const LEVELS = [
  "INFO",
  "INFO",
  "INFO",
  "INFO",
  "DEBUG",
  "DEBUG",
  "WARN",
  "ERROR",
];
const RESOURCES = [
  "users",
  "orders",
  "items",
  "invoices",
  "sessions",
  "reports",
];

/** Log-like text: timestamps, services, levels, words, ids; compresses about like real logs. */
export class LogWriter {
  readonly #random: KeyStream;
  #time = Date.UTC(2026, 0, 1);

  constructor(seed: string) {
    this.#random = new KeyStream(seed);
  }

  line(): string {
    const r = this.#random;
    this.#time += r.below(250);
    const words = Array.from({ length: 2 + r.below(5) }, () => r.pick(WORDS));
    const service = r.pick(SERVICES);
    return `${new Date(this.#time).toISOString()} node-${r.below(8)} ${service}[${1000 + r.below(64)}]: ${r.pick(LEVELS)} ${words.join(" ")} path=/v1/${r.pick(RESOURCES)}/${r.below(100_000)} status=${r.pick([200, 200, 200, 201, 204, 304, 404, 500])} dur_ms=${r.below(2000)} req=${r.uint32().toString(16).padStart(8, "0")}\n`;
  }

  block(length: number): Buffer {
    const parts: string[] = [];
    let size = 0;
    while (size < length) {
      const line = this.line();
      parts.push(line);
      size += line.length;
    }
    return Buffer.from(parts.join(""), "latin1").subarray(0, length);
  }
}

function text(random: KeyStream, length: number): string {
  const parts: string[] = [];
  let size = 0;
  while (size < length) {
    const word = random.pick(WORDS);
    parts.push(word);
    size += word.length + 1;
  }
  return parts.join(" ").slice(0, length - 1) + "\n";
}

/** Builds the pristine corpus in `dir` (which must not exist yet). */
export async function buildCorpus(
  dir: string,
  spec: CorpusSpec,
): Promise<CorpusInfo> {
  const candidates = await listSources();
  if (candidates.length < spec.smallFiles / 2)
    log(
      `only ${candidates.length} system files found (wanted ${spec.smallFiles})`,
    );
  // More files wanted than the system has: each is copied again, into system-2/ and so on.
  const copies = Math.max(1, Math.ceil(spec.smallFiles / candidates.length));
  const perCopy = Math.ceil(spec.smallFiles / copies);
  const step = Math.max(1, candidates.length / perCopy);
  const picked: string[] = [];
  for (let i = 0; i < candidates.length && picked.length < perCopy; i += step)
    picked.push(candidates[Math.floor(i)] as string);
  const chosen: { source: string; copy: number }[] = [];
  for (let copy = 1; copy <= copies; copy++)
    for (const source of picked)
      if (chosen.length < spec.smallFiles) chosen.push({ source, copy });
  log(
    `corpus: copying ${chosen.length} files (${picked.length} of ${candidates.length} system files${copies > 1 ? `, ${copies} copies` : ""}), writing ${spec.bigBytes / MiB} MiB random + ${spec.logBytes / MiB} MiB log`,
  );
  const relative = chosen.map(({ source, copy }) =>
    join(copy === 1 ? SYSTEM_DIR : `${SYSTEM_DIR}-${copy}`, source.slice(1)),
  );
  await mapLimit(chosen, 8, async ({ source, copy }, index) => {
    const target = join(dir, relative[index] as string);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(source, target);
    if (copy > 1) await appendFile(target, `\ncopy ${copy}\n`);
    const info = await stat(source);
    await chmod(target, info.mode & 0o777);
    await utimes(target, info.atime, info.mtime);
  });
  const random = new KeyStream("blindsync-bench big file v1");
  await writeStream(join(dir, BIG_FILE), spec.bigBytes, (length) =>
    random.bytes(length),
  );
  const logWriter = new LogWriter("blindsync-bench log v1");
  await writeStream(join(dir, LOG_FILE), spec.logBytes, (length) =>
    logWriter.block(length),
  );
  await writeFile(join(dir, SENTINEL), "blindsync benchmark corpus\n");
  const sorted = [...relative].sort();
  // Scenario E restores one plain small file from the middle of the list.
  const oneFile =
    sorted.slice(Math.floor(sorted.length / 3)).find((path) => {
      return /\.(txt|py|h|md)$/.test(path);
    }) ?? sorted[0];
  if (oneFile === undefined) throw new Error("the corpus has no small file");
  const manifest = await buildManifest(dir);
  let bytes = 0;
  for (const entry of manifest.values()) bytes += entry.size;
  return {
    files: [...manifest.values()].filter((entry) => entry.type === "file")
      .length,
    bytes,
    smallFiles: sorted,
    oneFile,
    fingerprint: fingerprint(manifest),
  };
}

export interface ChangeSummary {
  readonly inserted: string;
  readonly appended: readonly string[];
  readonly edited: number;
  readonly added: number;
  readonly deleted: number;
}

/**
 * Scenario C's change, the same on every run: one byte inserted mid-way into the big file,
 * appends to the log and 4 small files, 100 small in-place edits, 50 new and 20 deleted files.
 */
export async function applyChange(
  dir: string,
  info: CorpusInfo,
): Promise<ChangeSummary> {
  const random = new KeyStream("blindsync-bench change v1");
  const files = info.smallFiles;
  const excluded = new Set([files.indexOf(info.oneFile)]);
  const picked = random.distinct(4 + 100 + 20, files.length, excluded);
  const appendTargets = picked.slice(0, 4).map((i) => files[i] as string);
  const editTargets = picked.slice(4, 104).map((i) => files[i] as string);
  const deleteTargets = picked.slice(104).map((i) => files[i] as string);

  // One byte inserted mid-way: written as a new file and renamed over, as editors save.
  const big = join(dir, BIG_FILE);
  const size = (await stat(big)).size;
  const offset = Math.floor(size / 2) + 12_345;
  const input = await open(big, "r");
  const output = await open(`${big}.tmp`, "w");
  try {
    const buffer = Buffer.alloc(4 * MiB);
    let position = 0;
    let inserted = false;
    while (position < size) {
      const limit = !inserted && position < offset ? offset - position : size;
      const { bytesRead } = await input.read(
        buffer,
        0,
        Math.min(buffer.length, limit),
        position,
      );
      if (bytesRead === 0) break;
      await output.write(buffer, 0, bytesRead);
      position += bytesRead;
      if (!inserted && position === offset) {
        await output.write(Buffer.from([0x42]));
        inserted = true;
      }
    }
  } finally {
    await input.close();
    await output.close();
  }
  await rename(`${big}.tmp`, big);
  await utimes(big, CHANGE_TIME, CHANGE_TIME);

  const logWriter = new LogWriter("blindsync-bench log append v1");
  const logPath = join(dir, LOG_FILE);
  await appendFile(logPath, logWriter.block(64 * 1024));
  await utimes(logPath, CHANGE_TIME, CHANGE_TIME);
  for (const path of appendTargets) {
    await appendFile(join(dir, path), text(random, 1024));
    await utimes(join(dir, path), CHANGE_TIME, CHANGE_TIME);
  }
  let edited = 0;
  for (const [index, path] of editTargets.entries()) {
    const full = join(dir, path);
    const length = (await stat(full)).size;
    const patch = Buffer.from(`<edit ${index}>`);
    const handle = await open(full, "r+");
    try {
      if (length > patch.length)
        await handle.write(
          patch,
          0,
          patch.length,
          random.below(length - patch.length),
        );
      else await handle.write(patch, 0, patch.length, length);
    } finally {
      await handle.close();
    }
    await utimes(full, CHANGE_TIME + index, CHANGE_TIME + index);
    edited++;
  }
  for (let i = 0; i < 50; i++) {
    const near = files[random.below(files.length)] as string;
    const path = join(
      dir,
      dirname(near),
      `bench-new-${String(i).padStart(2, "0")}.txt`,
    );
    await writeFile(path, text(random, 200 + random.below(16_000)));
    await utimes(path, CHANGE_TIME, CHANGE_TIME);
  }
  for (const path of deleteTargets) await rm(join(dir, path));
  await touchSentinel(dir, "after change");
  return {
    inserted: `${BIG_FILE} @ ${offset}`,
    appended: [LOG_FILE, ...appendTargets],
    edited,
    added: 50,
    deleted: deleteTargets.length,
  };
}

/** Rewrites the sentinel so that it has the newest ctime in the tree. */
export async function touchSentinel(dir: string, note: string): Promise<void> {
  await writeFile(
    join(dir, SENTINEL),
    `blindsync benchmark corpus (${note})\n`,
  );
}

export interface ManifestEntry {
  readonly type: "file" | "dir" | "symlink" | "other";
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
  readonly hash: string;
}

async function hashFile(path: string, size: number): Promise<string> {
  if (size <= 8 * MiB)
    return createHash("sha256")
      .update(await readFile(path))
      .digest("hex");
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, {
    highWaterMark: 4 * MiB,
  }))
    hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Type, size, permissions, whole-second mtime and SHA-256 of everything under `dir`. */
export async function buildManifest(
  dir: string,
): Promise<Map<string, ManifestEntry>> {
  const names = (await readdir(dir, { recursive: true })).sort();
  const manifest = new Map<string, ManifestEntry>();
  await mapLimit(names, 4, async (name) => {
    const path = join(dir, name);
    const info = await lstat(path);
    const type = info.isFile()
      ? "file"
      : info.isDirectory()
        ? "dir"
        : info.isSymbolicLink()
          ? "symlink"
          : "other";
    const hash =
      type === "file"
        ? await hashFile(path, info.size)
        : type === "symlink"
          ? await readlink(path)
          : "";
    manifest.set(name, {
      type,
      size: type === "file" ? info.size : 0,
      mode: info.mode & 0o7777,
      mtime: Math.floor(info.mtimeMs / 1000),
      hash,
    });
  });
  return manifest;
}

export function fingerprint(manifest: Map<string, ManifestEntry>): string {
  const hash = createHash("sha256");
  for (const name of [...manifest.keys()].sort()) {
    const entry = manifest.get(name);
    if (entry === undefined || entry.type === "dir") continue;
    hash.update(`${name}\0${entry.type}\0${entry.size}\0${entry.hash}\n`);
  }
  return hash.digest("hex");
}

export interface Comparison {
  readonly ok: boolean;
  /** Content, type or permission differences and missing or extra entries: a wrong restore. */
  readonly errors: readonly string[];
  /** File modification times that differ (reported, not fatal). */
  readonly mtimeDiffs: number;
}

/** Compares a restored tree's manifest with the corpus's. Directory mtimes are not compared. */
export function compareManifests(
  expected: Map<string, ManifestEntry>,
  actual: Map<string, ManifestEntry>,
): Comparison {
  const errors: string[] = [];
  let mtimeDiffs = 0;
  for (const [name, want] of expected) {
    const got = actual.get(name);
    if (got === undefined) errors.push(`missing ${name}`);
    else if (got.type !== want.type)
      errors.push(`${name}: ${got.type} instead of ${want.type}`);
    else if (got.size !== want.size || got.hash !== want.hash)
      errors.push(`${name}: content differs`);
    else if (got.mode !== want.mode)
      errors.push(
        `${name}: mode ${got.mode.toString(8)} instead of ${want.mode.toString(8)}`,
      );
    else if (want.type === "file" && got.mtime !== want.mtime) mtimeDiffs++;
  }
  for (const name of actual.keys())
    if (!expected.has(name)) errors.push(`unexpected ${name}`);
  return { ok: errors.length === 0, errors: errors.slice(0, 10), mtimeDiffs };
}
