/**
 * Exclusion rules in gitignore syntax (the `ignore` package implements git's rules, including
 * negation and directory-only patterns): `--exclude` patterns and `--exclude-file` lines apply
 * from each source root; a `.blindsyncignore` file applies to its own directory and below.
 * Beside the patterns, two rules look at an entry's lstat(), as restic's do:
 * `--exclude-larger-than` skips regular files above a size, and `--one-file-system` keeps the
 * walk on the device of the source it started from (a mount point is kept as an empty
 * directory, so a restore shows where the other file system was).
 *
 * Every decision is taken here, by one method, because the directory cache's listing digest
 * (dir-digest.ts) covers exactly the children this matcher keeps: a rule decided elsewhere
 * would let a cached tree of an earlier run with other options be reused.
 */
import { readFileSync } from "node:fs";
import ignore, { type Ignore } from "ignore";
import { BlindsyncError } from "../../errors.js";
import type { EntryStat } from "./listing.js";

/** What the rules read of an entry's lstat() (an EntryStat or a BigIntStats has it). */
export type SelectionStat = Pick<
  EntryStat,
  "size" | "dev" | "isDirectory" | "isFile"
>;

export const IGNORE_FILE_NAME = ".blindsyncignore";

interface Scope {
  /** Path of the directory the rules belong to, relative to the source root ('' for the root). */
  readonly base: string;
  readonly rules: Ignore;
}

/** Whether a directory entry is the ignore file (a quick length check first: this runs per entry). */
export function isIgnoreFileName(name: Buffer): boolean {
  return (
    name.length === IGNORE_FILE_NAME.length &&
    name.toString("latin1") === IGNORE_FILE_NAME
  );
}

/** A child's path from the source root, as the rules see it ('' is the root itself). */
export function childRelative(relative: string, name: Buffer): string {
  return relative === ""
    ? name.toString("utf8")
    : `${relative}/${name.toString("utf8")}`;
}

/** Reads patterns from a file, one per line, as .gitignore does. */
export function readPatternFile(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split(/\r?\n/);
  } catch (error) {
    throw new BlindsyncError("usage", `Cannot read exclude file "${path}"`, {
      cause: error,
    });
  }
}

/** The file that marks a cache directory (https://bford.info/cachedir/; cache-tags.ts). */
export const CACHE_TAG_NAME = "CACHEDIR.TAG";

export interface ExcludeOptions {
  /** --exclude-caches: skip what directories holding a valid CACHEDIR.TAG hold, but the tag. */
  readonly excludeCaches?: boolean;
  /** --exclude-larger-than: skip regular files of more bytes than this. */
  readonly excludeLargerThan?: number;
  /** --one-file-system: do not descend into directories on another device than the source. */
  readonly oneFileSystem?: boolean;
}

/** The rules that depend on an entry's lstat() rather than its path. */
interface StatRules {
  readonly maxFileSize: bigint | undefined;
  readonly oneFileSystem: boolean;
  /** Under --one-file-system, the device of the source being walked (forSource()). */
  readonly device: bigint | undefined;
  /** Mount points met, relative to the source root: everything below them is skipped. */
  readonly mountPoints: readonly string[];
}

export class ExcludeMatcher {
  private readonly scopes: Scope[];
  /** Whether the walk looks for cache directory tags at all. */
  readonly excludeCaches: boolean;
  /** Directories found tagged as caches, relative to the source root. */
  private readonly cacheDirs: readonly string[];
  private readonly stats: StatRules;

  private constructor(
    scopes: Scope[],
    excludeCaches: boolean,
    cacheDirs: readonly string[],
    stats: StatRules,
  ) {
    this.scopes = scopes;
    this.excludeCaches = excludeCaches;
    this.cacheDirs = cacheDirs;
    this.stats = stats;
  }

  static fromPatterns(
    patterns: readonly string[],
    options: ExcludeOptions = {},
  ): ExcludeMatcher {
    const useful = patterns.filter((pattern) => pattern.trim() !== "");
    return new ExcludeMatcher(
      useful.length === 0 ? [] : [{ base: "", rules: ignore().add(useful) }],
      options.excludeCaches === true,
      [],
      {
        maxFileSize:
          options.excludeLargerThan === undefined
            ? undefined
            : BigInt(options.excludeLargerThan),
        oneFileSystem: options.oneFileSystem === true,
        device: undefined,
        mountPoints: [],
      },
    );
  }

  /** The matcher for walking one source whose own lstat() is `root`. */
  forSource(root: Pick<EntryStat, "dev">): ExcludeMatcher {
    if (!this.stats.oneFileSystem) return this;
    return this.withStats({ ...this.stats, device: root.dev, mountPoints: [] });
  }

  /**
   * The matcher for walking the directory at `relative`, whose lstat() is `stat`: under
   * --one-file-system, one that skips everything in it when it is a mount point.
   */
  forDirectory(relative: string, stat: Pick<EntryStat, "dev">): ExcludeMatcher {
    const { device } = this.stats;
    if (device === undefined || stat.dev === device) return this;
    return this.withStats({
      ...this.stats,
      mountPoints: [...this.stats.mountPoints, relative],
    });
  }

  private withStats(stats: StatRules): ExcludeMatcher {
    return new ExcludeMatcher(
      this.scopes,
      this.excludeCaches,
      this.cacheDirs,
      stats,
    );
  }

  /** A matcher for a subdirectory that adds the rules of its .blindsyncignore file. */
  withIgnoreFile(base: string, content: string): ExcludeMatcher {
    return new ExcludeMatcher(
      [...this.scopes, { base, rules: ignore().add(content) }],
      this.excludeCaches,
      this.cacheDirs,
      this.stats,
    );
  }

  /**
   * A matcher for a directory holding a valid cache tag: everything in it is excluded but the
   * tag itself, which is kept as tar and restic keep it (a restore shows what was skipped).
   */
  withCacheTag(base: string): ExcludeMatcher {
    return new ExcludeMatcher(
      this.scopes,
      this.excludeCaches,
      [...this.cacheDirs, base],
      this.stats,
    );
  }

  /**
   * Whether the entry at `relative` (the path from the source root, '/'-separated, without a
   * trailing slash), whose lstat() is `stat`, is left out of the snapshot.
   */
  excludes(relative: string, stat: SelectionStat): boolean {
    return (
      this.excludedByStat(relative, stat) ||
      this.excludesPath(relative, stat.isDirectory())
    );
  }

  private excludedByStat(relative: string, stat: SelectionStat): boolean {
    const { maxFileSize, device, mountPoints } = this.stats;
    if (maxFileSize !== undefined && stat.isFile() && stat.size > maxFileSize)
      return true;
    for (const base of mountPoints)
      if (relative.startsWith(`${base}/`)) return true;
    // A directory on another device is a mount point, kept empty (forDirectory()); anything
    // else there is a file mounted over one (a bind mount), skipped as restic -x skips it.
    return device !== undefined && !stat.isDirectory() && stat.dev !== device;
  }

  /** The path rules alone (patterns, ignore files, cache tags): what a restore selects by. */
  excludesPath(relative: string, isDirectory: boolean): boolean {
    for (const base of this.cacheDirs) {
      const inside = base === "" || relative.startsWith(`${base}/`);
      const tag = base === "" ? CACHE_TAG_NAME : `${base}/${CACHE_TAG_NAME}`;
      if (inside && relative !== "" && relative !== tag) return true;
    }
    for (const scope of this.scopes) {
      const local =
        scope.base === "" ? relative : relative.slice(scope.base.length + 1);
      if (scope.base !== "" && !relative.startsWith(`${scope.base}/`)) continue;
      if (local === "") continue;
      if (scope.rules.ignores(isDirectory ? `${local}/` : local)) return true;
    }
    return false;
  }
}
