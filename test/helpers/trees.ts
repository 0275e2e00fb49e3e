/**
 * Real file trees for tests: an edge-case tree builder and an exact comparison of two trees
 * (content, type, permission bits, mtimes in nanoseconds, symlink targets, hardlinks).
 */
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import {
  chmod,
  link,
  mkdir,
  mkdtemp,
  open,
  rm,
  symlink,
  utimes,
  writeFile,
  lutimes,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function tempDir(prefix = "blindsync-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** Deterministic pseudo-random bytes (xorshift32), so content is reproducible across runs. */
export function seededBytes(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let state = seed | 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[index] = state & 0xff;
  }
  return out;
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
