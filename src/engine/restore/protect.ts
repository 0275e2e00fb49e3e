/**
 * Paths a restore must never delete or overwrite, whatever the snapshot holds and whatever the
 * flags: the repository it reads from and the client cache. The caller names them as data; this
 * file knows nothing of where they come from.
 *
 * They are compared by identity (device and inode), never by spelling: `usb/vault`,
 * `./usb/../usb/vault`, a symlink to it and a bind mount of it are the same directory. Each path
 * is resolved once, before the restore touches anything, into three sets:
 *
 * - `exact`: the identity of each protected path that exists (a directory protects everything
 *   under it, so nothing below is ever looked at);
 * - `named`: the identity of each protected path's real parent directory with its name, which
 *   also covers a protected file that does not exist yet (a database's `-wal` sibling);
 * - `holders`: the identity of every directory above a protected path, which `--delete` empties
 *   of everything else but must keep.
 */
import { lstatSync, realpathSync, type BigIntStats } from "node:fs";
import { basename, dirname, resolve as resolvePath, sep } from "node:path";
import { BlindsyncError } from "../../errors.js";
import { nameKey } from "../fs-names.js";

export interface ProtectedPath {
  /** Absolute, or relative to the working directory; it need not exist. */
  readonly path: string;
  /** What it is, for messages: "the repository", "the client cache". */
  readonly what: string;
}

/** A directory entry's identity: the same key for every path that reaches the same inode. */
export function identityOf(stats: Pick<BigIntStats, "dev" | "ino">): string {
  return `${stats.dev}:${stats.ino}`;
}

function lstatIdentity(path: string): string | undefined {
  const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return stats === undefined ? undefined : identityOf(stats);
}

/**
 * The real path of `path` when it exists; otherwise the real path of its deepest existing
 * ancestor with the missing components appended (those cannot be symlinks: they do not exist).
 */
function realOrPlanned(path: string): string {
  const missing: string[] = [];
  let current = resolvePath(path);
  for (;;) {
    try {
      const real = realpathSync(current);
      return missing.length === 0
        ? real
        : resolvePath(real, ...missing.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return resolvePath(path);
      missing.push(basename(current));
      current = parent;
    }
  }
}

export class Protection {
  private readonly exact = new Map<string, ProtectedPath>();
  private readonly named = new Map<string, Map<string, ProtectedPath>>();
  private readonly holders = new Map<string, ProtectedPath>();

  constructor(paths: readonly ProtectedPath[]) {
    for (const entry of paths) this.add(entry);
  }

  get empty(): boolean {
    return this.named.size === 0;
  }

  private add(entry: ProtectedPath): void {
    const real = realOrPlanned(entry.path);
    const own = lstatIdentity(real);
    if (own !== undefined) this.exact.set(own, entry);
    let parent = dirname(real);
    const parentIdentity = lstatIdentity(parent);
    if (parentIdentity === undefined) return;
    let names = this.named.get(parentIdentity);
    if (names === undefined) {
      names = new Map();
      this.named.set(parentIdentity, names);
    }
    names.set(nameKey(Buffer.from(basename(real))), entry);
    for (;;) {
      const identity = lstatIdentity(parent);
      if (identity !== undefined) this.holders.set(identity, entry);
      const above = dirname(parent);
      if (above === parent) break;
      parent = above;
    }
  }

  /** The protected path that is this very inode, if any. */
  exactly(stats: Pick<BigIntStats, "dev" | "ino">): ProtectedPath | undefined {
    return this.exact.get(identityOf(stats));
  }

  /**
   * What protects the entry `name` of the directory with identity `dirIdentity` (with its lstat
   * `stats` when it exists); undefined when the entry is free to replace or delete.
   */
  protects(
    dirIdentity: string | undefined,
    name: Uint8Array,
    stats?: Pick<BigIntStats, "dev" | "ino">,
  ): ProtectedPath | undefined {
    const exact = stats === undefined ? undefined : this.exactly(stats);
    if (exact !== undefined || dirIdentity === undefined) return exact;
    return this.named.get(dirIdentity)?.get(nameKey(name));
  }

  /** For a directory that has a protected path somewhere below it: that path. */
  holds(stats: Pick<BigIntStats, "dev" | "ino">): ProtectedPath | undefined {
    return this.holders.get(identityOf(stats));
  }

  /**
   * Throws 'usage' when `target` is a protected path or lies inside one: every entry there would
   * be a write into the repository or the cache. Call it before the target is created.
   */
  checkTarget(target: string): void {
    const real = realOrPlanned(target);
    let path = real;
    for (;;) {
      const identity = lstatIdentity(path);
      const found =
        (identity === undefined ? undefined : this.exact.get(identity)) ??
        this.namedPath(path);
      if (found !== undefined) {
        const where =
          path === real
            ? `it is ${found.what}`
            : `it is inside ${found.what} ("${path}")`;
        throw new BlindsyncError(
          "usage",
          `Cannot restore into "${target}": ${where}`,
          { hint: `Restore into a directory outside ${found.what}` },
        );
      }
      const parent = dirname(path);
      if (parent === path || !path.includes(sep)) return;
      path = parent;
    }
  }

  private namedPath(path: string): ProtectedPath | undefined {
    const parent = lstatIdentity(dirname(path));
    if (parent === undefined) return undefined;
    return this.named.get(parent)?.get(nameKey(Buffer.from(basename(path))));
  }
}
