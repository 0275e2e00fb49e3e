/**
 * Exclusion rules in gitignore syntax (the `ignore` package implements git's rules, including
 * negation and directory-only patterns): `--exclude` patterns and `--exclude-file` lines apply
 * from each source root; a `.blindsyncignore` file applies to its own directory and below.
 */
import { readFileSync } from "node:fs";
import ignore, { type Ignore } from "ignore";
import { BlindsyncError } from "../../errors.js";

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
}

export class ExcludeMatcher {
  private readonly scopes: Scope[];
  /** Whether the walk looks for cache directory tags at all. */
  readonly excludeCaches: boolean;
  /** Directories found tagged as caches, relative to the source root. */
  private readonly cacheDirs: readonly string[];

  private constructor(
    scopes: Scope[],
    excludeCaches: boolean,
    cacheDirs: readonly string[],
  ) {
    this.scopes = scopes;
    this.excludeCaches = excludeCaches;
    this.cacheDirs = cacheDirs;
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
    );
  }

  /** A matcher for a subdirectory that adds the rules of its .blindsyncignore file. */
  withIgnoreFile(base: string, content: string): ExcludeMatcher {
    return new ExcludeMatcher(
      [...this.scopes, { base, rules: ignore().add(content) }],
      this.excludeCaches,
      this.cacheDirs,
    );
  }

  /**
   * A matcher for a directory holding a valid cache tag: everything in it is excluded but the
   * tag itself, which is kept as tar and restic keep it (a restore shows what was skipped).
   */
  withCacheTag(base: string): ExcludeMatcher {
    return new ExcludeMatcher(this.scopes, this.excludeCaches, [
      ...this.cacheDirs,
      base,
    ]);
  }

  /** `relative` is the path from the source root, '/'-separated, without a trailing slash. */
  excludes(relative: string, isDirectory: boolean): boolean {
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
