/**
 * The flags of `backup` that choose what is read, parsed as restic parses them:
 * `--exclude-larger-than SIZE` and `--files-from FILE`. Their mistakes are usage errors (exit 2),
 * found before the repository is opened or created.
 */
import { lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import { resolve, sep } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";

/** restic's units: binary multiples, one letter, any case. */
const UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
};

/**
 * A size such as `500`, `10K`, `10M`, `1.5G` or `2T` (binary units, as restic reads them; a
 * trailing `B` or `iB` is accepted too: `10MiB`), in bytes.
 */
export function parseSize(text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(text);
  const unit = UNITS[(match?.[2] ?? "").toLowerCase()];
  if (match === null || unit === undefined)
    throw new BlindsyncError("usage", `${flag} "${text}" is not a size`, {
      hint: "For example 500K, 10M or 1G (binary units: 1K = 1024 bytes)",
    });
  return Math.floor(Number(match[1]) * unit);
}

/**
 * The paths listed in `--files-from` files: one per line, blank lines and lines starting with
 * `#` ignored, spaces around a path trimmed (as restic's --files-from; a name that begins or
 * ends with a space must be given on the command line). `-` reads the list from stdin.
 */
export function readFilesFrom(
  files: readonly string[],
  readStdin: () => string = () => readFileSync(0, "utf8"),
): string[] {
  const paths: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = file === "-" ? readStdin() : readFileSync(file, "utf8");
    } catch (error) {
      throw new BlindsyncError(
        "usage",
        `Cannot read --files-from "${file}": ${describeError(error)}`,
        { cause: error },
      );
    }
    for (const line of text.split(/\r?\n/)) {
      const path = line.trim();
      if (path !== "" && !path.startsWith("#")) paths.push(path);
    }
  }
  return paths;
}

/**
 * The command line's sources followed by those of `--files-from`, each path once (a path named
 * twice would otherwise be two sources with one base name, a usage error).
 */
export function combineSources(
  given: readonly string[],
  listed: readonly string[],
): string[] {
  const seen = new Set<string>();
  return [...given, ...listed].filter((source) => {
    const path = resolve(source);
    if (seen.has(path)) return false;
    seen.add(path);
    return true;
  });
}

/** What a source that is a symlink stands for, and a word for the user when it may surprise. */
export interface FollowedSource {
  readonly path: string;
  readonly note?: string;
}

/**
 * rsync's rule for a source that is a symlink to a directory: written with a trailing slash
 * (`docs/`) it stands for the directory the link points to, which is read in its place; without
 * one the link itself is stored, as restic and borg store it, and the note says how to get the
 * directory instead (a backup of `~/Documents` that held one link would otherwise look fine).
 * Anything else, a source that does not exist included, is left for the checks that follow.
 */
export function followSource(source: string): FollowedSource {
  // lstat of "link/" answers for the directory: the kernel follows a path with a trailing slash.
  const link = resolve(source);
  try {
    if (!lstatSync(link).isSymbolicLink() || !statSync(link).isDirectory())
      return { path: source };
  } catch {
    return { path: source };
  }
  if (source.endsWith(sep) || source.endsWith(`${sep}.`))
    return { path: realpathSync(link) };
  return {
    path: source,
    note: `"${source}" is a symlink to a directory and is stored as the link; write "${source}${sep}" to back up the directory it points to`,
  };
}
