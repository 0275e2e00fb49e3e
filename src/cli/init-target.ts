/**
 * The local directory `init` creates a repository in: refused when it already holds the user's
 * files (a repository among them is easy to delete by mistake with them, or to back up into
 * itself), and put back as it was when `init` fails after making something there.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { BlindsyncError } from "../errors.js";
import { holdsLocalRepository } from "../store/index.js";

/** A file system's own folder at the root of a mount (ext2/3/4): not the user's. */
const NOT_USER_FILES = new Set(["lost+found"]);
/** How many of the files found a refusal names. */
const NAMED = 3;

export interface InitTarget {
  /** Removes what was made since: new entries in the directory, or the directories made. */
  undo(): void;
}

function listing(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    // Not a directory, unreadable: creating the repository reports it in its own words.
    return [];
  }
}

/** The highest of `dir` and its parents that does not exist yet (mkdir -p makes it first). */
function firstMissing(dir: string): string | undefined {
  let missing: string | undefined;
  for (let at = resolve(dir); !existsSync(at); at = dirname(at)) {
    missing = at;
    if (dirname(at) === at) break;
  }
  return missing;
}

/**
 * Checks the directory of a local repository before `init` makes anything there, and records
 * what it holds. A directory holding a repository already is left to the store, which refuses
 * it as before ("A repository already exists").
 */
export function prepareInitTarget(
  dir: string,
  options: { readonly force: boolean; readonly command: string },
): InitTarget {
  const before = listing(dir);
  if (before !== undefined && !holdsLocalRepository(dir)) {
    const userFiles = before.filter((name) => !NOT_USER_FILES.has(name));
    if (userFiles.length > 0 && !options.force) {
      const named = userFiles
        .slice(0, NAMED)
        .map((name) => `"${name}"`)
        .join(", ");
      const more =
        userFiles.length > NAMED ? ` and ${userFiles.length - NAMED} more` : "";
      throw new BlindsyncError(
        "usage",
        `"${dir}" already holds files (${named}${more}): refusing to create a repository among them`,
        {
          hint: `Give a new or empty directory, or create the repository beside those files with: ${options.command}`,
        },
      );
    }
  }
  // Never undo beside a repository that was there: its journal may come and go meanwhile.
  if (before !== undefined && holdsLocalRepository(dir))
    return { undo: () => undefined };
  const made = before === undefined ? firstMissing(dir) : undefined;
  const kept = new Set(before ?? []);
  return {
    undo() {
      if (made !== undefined) {
        rmSync(made, { recursive: true, force: true });
        return;
      }
      for (const name of listing(dir) ?? [])
        if (!kept.has(name))
          rmSync(join(dir, name), { recursive: true, force: true });
    },
  };
}
