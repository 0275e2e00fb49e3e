/**
 * Byte-exact fingerprints of directories, for "nothing changed" and "nothing new" checks: what
 * a refused command must leave as it was (a repository, a cache, the files beside a restore).
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  promises as fsp,
  readFileSync,
  readdirSync,
  readlinkSync,
} from "node:fs";
import { join } from "node:path";

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Names of every entry in a directory, recursively (relative paths). */
export function listAll(root: string, prefix = ""): string[] {
  const names: string[] = [];
  for (const name of readdirSync(join(root, prefix))) {
    const rel = prefix === "" ? name : `${prefix}/${name}`;
    names.push(rel);
    if (lstatSync(join(root, rel)).isDirectory())
      names.push(...listAll(root, rel));
  }
  return names;
}

/** Temporary files a restore may have left behind (`.blindsync-<16 hex>-<n>.tmp`, target.ts). */
export function restoreDebris(target: string): string[] {
  return listAll(target).filter((path) =>
    /(^|\/)\.blindsync-[0-9a-f]{16}-[0-9]+\.tmp$/.test(path),
  );
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
        lines.push(`${rel} file ${stat.size} ${sha256File(full)}`);
      }
    }
  };
  visit(dir, "");
  return lines;
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

/**
 * Hash of everything under `root` (names, types, modes, sizes, mtimes, inode numbers, contents
 * and link targets), skipping the top-level names in `skip`. Link counts are left out: a restore
 * that replaces a hardlink planted in its target lowers the outside file's count, rightly.
 */
export async function treeHash(
  root: string,
  skip: readonly string[] = [],
): Promise<string> {
  const hash = createHash("sha256");
  async function visit(path: Buffer, rel: string, top: boolean): Promise<void> {
    const stats = await fsp.lstat(path, { bigint: true });
    hash.update(
      `${rel}\0${stats.mode}\0${stats.size}\0${stats.mtimeNs}\0${stats.ino}\0`,
    );
    if (stats.isSymbolicLink())
      hash.update(await fsp.readlink(path, { encoding: "buffer" }));
    else if (stats.isFile()) hash.update(await fsp.readFile(path));
    else if (stats.isDirectory()) {
      const names = (await fsp.readdir(path, { encoding: "buffer" }))
        .filter((name) => !(top && skip.includes(name.toString())))
        .sort((a, b) => Buffer.compare(a, b));
      for (const name of names)
        await visit(
          Buffer.concat([path, Buffer.from("/"), name]),
          `${rel}/${name.toString("hex")}`,
          false,
        );
    }
  }
  await visit(Buffer.from(root), ".", true);
  return hash.digest("hex");
}
