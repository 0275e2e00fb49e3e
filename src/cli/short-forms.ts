/**
 * The two short forms, `blindsync SRC... REPO` (backup) and `blindsync REPO TARGET` (restore),
 * and the rule that they never destroy (docs/design.md): the short restore writes only into a
 * missing or empty TARGET, two repositories are a usage error, and two plain directories say
 * how to create the repository instead of guessing.
 */
import { lstatSync, readdirSync } from "node:fs";
import { BlindsyncError, describeError } from "../errors.js";
import { parseLocation } from "../store/index.js";
import { holdsLocalRepository } from "../store/local-repository.js";

/** Global options that take a value as the next argument. */
const GLOBAL_OPTIONS_WITH_VALUE = [
  "--password-file",
  "--password-command",
  "--cache-dir",
  "--ssh",
  "--remote-cmd",
];

/** True when `text` names an existing repository: remote locations are assumed to. */
export function looksLikeRepository(text: string): boolean {
  try {
    const location = parseLocation(text);
    return location.kind === "ssh" || holdsLocalRepository(location.path);
  } catch {
    return false;
  }
}

function isLocal(text: string): boolean {
  try {
    return parseLocation(text).kind === "local";
  } catch {
    return false;
  }
}

/**
 * Throws 'usage' unless `target` is missing or an empty directory. Exit 2 rather than 1: the
 * command line asked for something the short form does not do, and the fix is another command
 * line, which the hint gives.
 */
export function checkShortRestoreTarget(repository: string, target: string) {
  let entries: string[];
  try {
    if (lstatSync(target, { throwIfNoEntry: false }) === undefined) return;
    entries = readdirSync(target);
  } catch (error) {
    entries = [describeError(error)];
  }
  if (entries.length === 0) return;
  throw new BlindsyncError(
    "usage",
    `Not restoring into "${target}": it is not empty, and "blindsync ${repository} ${target}" ` +
      "restores only into a missing or empty directory, so that swapped arguments never overwrite newer files",
    {
      hint:
        `To restore over what is there, run: blindsync restore ${repository} ${target}` +
        ` (to back "${target}" up instead, run: blindsync backup ${target} ${repository})`,
    },
  );
}

/**
 * Rewrites `blindsync A B...` into `backup` or `restore` when A is not a command, or throws when
 * two arguments cannot be told apart safely: both repositories ('usage'), or neither with B a
 * local path ('no-repository', saying how to create B). `blindsync REPO TARGET` into a TARGET
 * that is neither missing nor empty throws 'usage' (checkShortRestoreTarget).
 */
export function expandShortForms(
  args: readonly string[],
  commandNames: ReadonlySet<string>,
): string[] {
  const firstPositional = args.findIndex((arg) => !arg.startsWith("-"));
  if (firstPositional === -1) return [...args];
  const first = args[firstPositional] as string;
  // An option value (e.g. --password-file F) is not a positional; only rewrite plain forms.
  const before = args.slice(0, firstPositional);
  if (
    before.some(
      (arg) => !arg.includes("=") && GLOBAL_OPTIONS_WITH_VALUE.includes(arg),
    )
  ) {
    return [...args];
  }
  if (commandNames.has(first) || first === "help") return [...args];
  const positionals = args.filter((arg) => !arg.startsWith("-"));
  const rest = args.slice(firstPositional);
  if (positionals.length !== 2) return [...before, "backup", ...rest];
  const second = positionals[1] as string;
  const firstIsRepository = looksLikeRepository(first);
  const secondIsRepository = looksLikeRepository(second);
  if (firstIsRepository && secondIsRepository) {
    throw new BlindsyncError(
      "usage",
      `Both "${first}" and "${second}" are repositories: "blindsync ${first} ${second}" would restore one into the other`,
      {
        hint: `To restore, name a directory: blindsync restore ${first} TARGET`,
      },
    );
  }
  if (firstIsRepository) {
    checkShortRestoreTarget(first, second);
    return [...before, "restore", ...rest];
  }
  // `--init` asks the backup to create the repository: nothing to refuse then.
  if (!secondIsRepository && isLocal(second) && !args.includes("--init")) {
    throw new BlindsyncError(
      "no-repository",
      `No repository at "${second}" (nor at "${first}"), so "blindsync ${first} ${second}" can neither back up nor restore`,
      {
        hint: `To back "${first}" up into a new repository, create it with: blindsync init ${second}, or run: blindsync backup --init ${first} ${second}`,
      },
    );
  }
  return [...before, "backup", ...rest];
}
