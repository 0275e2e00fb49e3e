/**
 * Real file trees for tests: builders (the edge cases, many small files, big files, a stale copy
 * of a tree) and an exact comparison of two trees (content, type, permission bits, mtimes in
 * nanoseconds, symlink targets, hardlinks).
 */
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import {
  chmod,
  link,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
  lutimes,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listAll } from "./files.js";
import { Prng, seededBytes } from "./prng.js";
import { INLINE_FILE_MAX } from "../../src/engine/backup/index.js";

export async function tempDir(prefix = "blindsync-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** Bytes of every regular file below `dir`. */
export async function directorySize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, {
    recursive: true,
    withFileTypes: true,
  }))
    if (entry.isFile())
      total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}

/**
 * Builds a tree with the cases a backup tool gets wrong: odd names (spaces, newline, leading
 * dash, non-UTF-8 bytes, unicode), empty files and directories, modes, a symlink to a missing
 * target and an absolute one, a hardlink pair, a sparse file, a multi-chunk file, and
 * nanosecond mtimes on files and directories. Returns the root.
 */
export async function buildEdgeCaseTree(
  root: string,
  options: { bigFileBytes?: number } = {},
): Promise<string> {
  await mkdir(root, { recursive: true });
  const rootBuf = Buffer.from(root);
  const at = (...parts: (string | Buffer)[]): Buffer =>
    Buffer.concat([
      rootBuf,
      ...parts.flatMap((part) => [Buffer.from("/"), Buffer.from(part)]),
    ]);
  await writeFile(at("plain.txt"), "hello blindsync\n");
  await writeFile(at("empty"), "");
  await writeFile(at("with space and\nnewline"), "odd name\n");
  await writeFile(at("-leading-dash"), "dash\n");
  await writeFile(
    at(Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9, 0xff])),
    "not utf-8 name\n",
  );
  await writeFile(at("ünïcødé ✓"), "unicode\n");
  await mkdir(at("empty-dir"));
  await mkdir(at("dir", "nested", "deeper"), { recursive: true });
  await writeFile(at("dir", "nested", "deeper", "leaf.bin"), randomBytes(1000));
  await writeFile(at("dir", "exec.sh"), "#!/bin/sh\necho hi\n");
  await chmod(at("dir", "exec.sh"), 0o755);
  await writeFile(at("dir", "private"), "secret-ish\n");
  await chmod(at("dir", "private"), 0o600);
  await writeFile(at("dir", "setgid"), "x");
  await chmod(at("dir", "setgid"), 0o2750);
  await symlink("plain.txt", at("link-to-plain"));
  await symlink("does/not/exist", at("dangling"));
  await symlink("/etc/hostname", at("dir", "absolute-link"));
  await writeFile(at("hard-a"), "linked twice\n");
  await link(at("hard-a"), at("dir", "hard-b"));
  const sparse = await open(at("sparse.img"), "w");
  await sparse.write(Buffer.from("start"), 0, 5, 0);
  await sparse.write(Buffer.from("end"), 0, 3, 64 * 1024 * 1024);
  await sparse.close();
  await writeFile(
    at("big.bin"),
    seededBytes(7, options.bigFileBytes ?? 3 * 1024 * 1024 + 17),
  );
  const times: [Buffer, number][] = [
    [at("plain.txt"), 1_600_000_000.123456],
    [at("dir", "nested"), 1_500_000_000.5],
    [at("empty-dir"), 1_400_000_000],
    [at("dir"), 1_300_000_000.25],
  ];
  for (const [path, seconds] of times) await utimes(path, seconds, seconds);
  await lutimes(at("link-to-plain"), 1_200_000_000, 1_200_000_000);
  return root;
}

/**
 * A source tree of many small files (each below the chunker's minimum and above the inline
 * limit, so each is exactly one data blob rather than bytes in its tree) in flat
 * subdirectories `dir00`…, half compressible text and half random bytes, plus one file
 * duplicated in two directories (one blob, two users). Returns the file paths.
 */
export async function buildManyFilesTree(
  root: string,
  options: { files: number; dirs: number; seed: number },
): Promise<string[]> {
  const prng = new Prng(options.seed);
  const paths: string[] = [];
  for (let dir = 0; dir < options.dirs; dir++)
    await mkdir(join(root, dirName(dir)), { recursive: true });
  for (let index = 0; index < options.files; index++) {
    const dir = dirName(index % options.dirs);
    const path = `${dir}/f${String(index).padStart(3, "0")}.bin`;
    const size = Math.max(prng.int(1, 24 * 1024), INLINE_FILE_MAX + 1);
    const content =
      index % 2 === 0
        ? Buffer.from(
            `file ${index}: ${"all work and no play ".repeat(Math.ceil(size / 21))}`,
          ).subarray(0, size)
        : seededBytes(options.seed * 1000 + index + 1, size);
    await writeFile(join(root, path), content);
    paths.push(path);
  }
  const shared = seededBytes(options.seed + 77, 5000);
  await writeFile(join(root, dirName(0), "dup-a"), shared);
  await writeFile(join(root, dirName(1 % options.dirs), "dup-b"), shared);
  await writeFile(join(root, "top.txt"), "a file at the root\n".repeat(60));
  paths.push(`${dirName(0)}/dup-a`, `${dirName(1 % options.dirs)}/dup-b`);
  paths.push("top.txt");
  return paths;
}

function dirName(index: number): string {
  return `dir${String(index).padStart(2, "0")}`;
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
  const prng = new Prng(seed);
  for (let index = 0; index < count; index++) {
    const path = join(root, names(index));
    await mkdir(join(path, ".."), { recursive: true });
    const size = Math.floor((0.75 + prng.next() * 0.5) * 1024 * 1024);
    await writeFile(path, seededBytes(seed * 1000 + index + 1, size));
  }
  await writeFile(join(root, "notes.txt"), `seed ${seed}, ${count} files\n`);
  return root;
}

/**
 * A copy of `source` with the same directories and file names but other contents ("an older
 * copy" a restore runs over in place).
 */
export async function buildStaleCopy(
  source: string,
  target: string,
): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const rel of listAll(source)) {
    const from = join(source, rel);
    if (lstatSync(from).isDirectory()) {
      await mkdir(join(target, rel), { recursive: true });
    } else {
      await writeFile(join(target, rel), `stale copy of ${rel}\n`);
      await utimes(join(target, rel), 1_000_000_000, 1_000_000_000);
    }
  }
}

export interface Described {
  readonly type: string;
  readonly mode: number;
  readonly mtimeNs: bigint;
  readonly size: number;
  readonly sha256?: string;
  readonly target?: string;
  /** Index of the first path sharing this inode, for hardlink comparison. */
  readonly linkGroup?: string;
}

/** Describes every entry below root, keyed by relative path (hex of the bytes). */
export function describeTree(
  root: string,
  options: { rootMtime?: boolean } = {},
): Map<string, Described> {
  const result = new Map<string, Described>();
  const inodes = new Map<bigint, string>();
  const visit = (dir: Buffer, relative: Buffer): void => {
    for (const name of readdirSync(dir, { encoding: "buffer" }).sort((a, b) =>
      Buffer.compare(a, b),
    )) {
      const path = Buffer.concat([dir, Buffer.from("/"), name]);
      const rel =
        relative.length === 0
          ? name
          : Buffer.concat([relative, Buffer.from("/"), name]);
      const stat = lstatSync(path, { bigint: true });
      const key = rel.toString("hex");
      const base = { mode: Number(stat.mode & 0o7777n), mtimeNs: stat.mtimeNs };
      if (stat.isDirectory()) {
        result.set(key, { ...base, type: "dir", size: 0 });
        visit(path, rel);
      } else if (stat.isSymbolicLink()) {
        result.set(key, {
          ...base,
          type: "symlink",
          size: 0,
          target: readlinkSync(path, { encoding: "buffer" }).toString("hex"),
        });
      } else {
        let linkGroup: string | undefined;
        if (stat.nlink > 1n) {
          linkGroup = inodes.get(stat.ino) ?? key;
          inodes.set(stat.ino, linkGroup);
        }
        const sha256 = createHash("sha256")
          .update(readFileSync(path))
          .digest("hex");
        result.set(key, {
          ...base,
          type: "file",
          size: Number(stat.size),
          sha256,
          ...(linkGroup === undefined ? {} : { linkGroup }),
        });
      }
    }
  };
  visit(Buffer.from(root), Buffer.alloc(0));
  if (options.rootMtime === true) {
    const stat = lstatSync(root, { bigint: true });
    result.set(".", {
      type: "dir",
      mode: Number(stat.mode & 0o7777n),
      mtimeNs: stat.mtimeNs,
      size: 0,
    });
  }
  return result;
}

/**
 * The differences between two directories on disk, the root's own mtime included (empty when
 * a restore reproduced the source exactly).
 */
export function directoryDifferences(
  expectedDir: string,
  actualDir: string,
): string[] {
  return treeDifferences(
    describeTree(expectedDir, { rootMtime: true }),
    describeTree(actualDir, { rootMtime: true }),
  );
}

/** Lists the differences between two described trees (empty when identical). */
export function treeDifferences(
  expected: Map<string, Described>,
  actual: Map<string, Described>,
): string[] {
  const problems: string[] = [];
  const show = (key: string): string =>
    key === "."
      ? "."
      : JSON.stringify(Buffer.from(key, "hex").toString("utf8"));
  for (const [key, want] of expected) {
    const got = actual.get(key);
    if (got === undefined) {
      problems.push(`missing ${show(key)}`);
      continue;
    }
    for (const field of [
      "type",
      "mode",
      "mtimeNs",
      "size",
      "sha256",
      "target",
      "linkGroup",
    ] as const) {
      if (want[field] !== got[field])
        problems.push(
          `${show(key)}: ${field} ${String(want[field])} != ${String(got[field])}`,
        );
    }
  }
  for (const key of actual.keys())
    if (!expected.has(key)) problems.push(`unexpected ${show(key)}`);
  return problems;
}
