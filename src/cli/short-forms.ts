/**
 * The two short forms, `blindsync SRC... REPO` (backup) and `blindsync REPO TARGET` (restore),
 * and the rule that they never destroy (docs/design.md): the short restore writes only into a
 * missing or empty TARGET, two repositories are a usage error, and two plain directories say
 * how to create the repository instead of guessing.
 */
import { lstatSync, readdirSync } from "node:fs";
import type { Command } from "commander";
import { BlindsyncError, describeError } from "../errors.js";
import {
  holdsLocalRepository,
  parseLocation,
  type Location,
} from "../store/index.js";

/** `text` as a location; undefined when it is not one (an argument that is no REPO). */
function locationOf(text: string): Location | undefined {
  try {
    return parseLocation(text);
  } catch {
    return undefined;
  }
}

/** True when `location` names an existing repository: remote locations are assumed to. */
function isRepository(location: Location | undefined): boolean {
  if (location === undefined) return false;
  return location.kind !== "local" || holdsLocalRepository(location.path);
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
 * What the short forms need to know of the command line: the command names (a first
 * positional that names one is not a short form) and the options that take a value, so that
 * `--snapshot X` counts X as the option's value and not as a third path.
 */
export interface ShortFormGrammar {
  readonly commandNames: ReadonlySet<string>;
  /**
   * Flags (`--snapshot`, `-s`) whose value is the next argument unless attached: always for a
   * required value (`<id>`), for an optional one (`[id]`) only when it does not look like an
   * option (commander's rules).
   */
  readonly optionsWithValue: ReadonlyMap<string, "required" | "optional">;
}

/**
 * The grammar of `program`, read from its commander definitions: the global options and those
 * of `backup` and `restore` (a short form becomes one of the two, and which one is decided
 * only after counting positionals, so an option of either may appear).
 */
export function shortFormGrammar(program: Command): ShortFormGrammar {
  const optionsWithValue = new Map<string, "required" | "optional">();
  const shortFormCommands = program.commands.filter((command) =>
    ["backup", "restore"].includes(command.name()),
  );
  for (const command of [program, ...shortFormCommands]) {
    for (const option of command.options) {
      if (!option.required && !option.optional) continue;
      const kind = option.required ? "required" : "optional";
      if (option.long !== undefined) optionsWithValue.set(option.long, kind);
      if (option.short !== undefined) optionsWithValue.set(option.short, kind);
    }
  }
  return {
    commandNames: new Set(program.commands.map((command) => command.name())),
    optionsWithValue,
  };
}

/** Commander's rule: `-` alone is an operand, anything longer that starts with `-` an option. */
function looksLikeOption(arg: string): boolean {
  return arg.length > 1 && arg.startsWith("-");
}

/**
 * The indexes in `args` of the positionals (operands), as commander will see them: an option
 * that takes a value consumes the next argument unless the value is attached (`--tag=x`,
 * `-sX`, or a cluster such as `-ns X` whose last letter takes it), and everything after `--` is
 * positional.
 */
export function positionalIndexes(
  args: readonly string[],
  optionsWithValue: ShortFormGrammar["optionsWithValue"],
): number[] {
  const indexes: number[] = [];
  const takesNext = (flag: string, next: string | undefined) => {
    const kind = optionsWithValue.get(flag);
    if (kind === undefined || next === undefined) return false;
    return kind === "required" || !looksLikeOption(next);
  };
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg === "--") {
      for (let j = i + 1; j < args.length; j += 1) indexes.push(j);
      break;
    }
    if (!looksLikeOption(arg)) {
      indexes.push(i);
      continue;
    }
    if (arg.startsWith("--")) {
      if (!arg.includes("=") && takesNext(arg, args[i + 1])) i += 1;
      continue;
    }
    // A short flag or a cluster of them: the first letter that takes a value takes the rest of
    // the argument, or the next argument when it is the last letter.
    for (let k = 1; k < arg.length; k += 1) {
      const flag = `-${arg[k] as string}`;
      if (!optionsWithValue.has(flag)) continue;
      if (k === arg.length - 1 && takesNext(flag, args[i + 1])) i += 1;
      break;
    }
  }
  return indexes;
}

/**
 * Rewrites `blindsync A B...` into `backup` or `restore` when A is not a command, or throws when
 * two arguments cannot be told apart safely: both repositories ('usage'), or neither with B a
 * local path ('no-repository', saying how to create B). `blindsync REPO TARGET` into a TARGET
 * that is neither missing nor empty throws 'usage' (checkShortRestoreTarget).
 */
export function expandShortForms(
  args: readonly string[],
  grammar: ShortFormGrammar,
): string[] {
  const form = shortFormOf(args, grammar);
  return form === undefined ? [...args] : [form, ...args];
}

/**
 * Which command `blindsync A B...` stands for: undefined when A is a command (no short
 * form), else "backup" or "restore", with the refusals of expandShortForms. The restore
 * command is told when it runs as the short form: `latest` must then be clear
 * (commands/restore.ts).
 */
export function shortFormOf(
  args: readonly string[],
  grammar: ShortFormGrammar,
): "backup" | "restore" | undefined {
  const positionals = positionalIndexes(args, grammar.optionsWithValue).map(
    (index) => args[index] as string,
  );
  const first = positionals[0];
  if (first === undefined) return undefined;
  if (grammar.commandNames.has(first) || first === "help") return undefined;
  checkCommandWord(first, positionals.length, grammar.commandNames);
  // The command goes first: commander reads the global options wherever they stand, and the
  // command's own options (--snapshot X before REPO) only after the command's name.
  if (positionals.length !== 2) return "backup";
  const second = positionals[1] as string;
  // Each parsed once here, only to choose the command: the command parses its REPO again.
  const secondLocation = locationOf(second);
  const firstIsRepository = isRepository(locationOf(first));
  const secondIsRepository = isRepository(secondLocation);
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
    return "restore";
  }
  // `--init` asks the backup to create the repository: nothing to refuse then.
  if (
    !secondIsRepository &&
    secondLocation?.kind === "local" &&
    !args.includes("--init")
  ) {
    throw new BlindsyncError(
      "no-repository",
      `No repository at "${second}" (nor at "${first}"), so "blindsync ${first} ${second}" can neither back up nor restore`,
      {
        hint: `To back "${first}" up into a new repository, create it with: blindsync init ${second}, or run: blindsync backup --init ${first} ${second}`,
      },
    );
  }
  return "backup";
}

/**
 * Throws 'usage' ("unknown command 'snapshotz'", "did you mean 'snapshots'?") for a first word
 * that reads as a mistyped command rather than a source or repository: a plain word that
 * names no existing file or directory, and is either close to a command's name or stands
 * alone (a short form needs two paths). A word that is an existing path keeps the short forms
 * working: `blindsync docs vault` backs ./docs up whatever its name looks like.
 */
export function checkCommandWord(
  word: string,
  positionals: number,
  commandNames: ReadonlySet<string>,
): void {
  if (!/^[a-z][a-z0-9-]*$/i.test(word)) return;
  if (lstatSync(word, { throwIfNoEntry: false }) !== undefined) return;
  const suggestion = closestCommand(word, commandNames);
  if (suggestion === undefined && positionals > 1) return;
  throw new BlindsyncError("usage", `unknown command '${word}'`, {
    hint:
      suggestion === undefined
        ? "The commands are listed by: blindsync --help"
        : `did you mean '${suggestion}'?`,
  });
}

/** The command name within a typo or two of `word` (the closest, the first on a tie). */
export function closestCommand(
  word: string,
  commandNames: ReadonlySet<string>,
): string | undefined {
  // One edit in a short word, two in a longer one: "cta" is "cat", "ls" is not "rm".
  const allowed = word.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const name of [...commandNames].sort()) {
    const distance = editDistance(word.toLowerCase(), name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Damerau-Levenshtein distance (optimal string alignment): insertions, deletions,
 * substitutions and swaps of two neighbours each count one.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        distance = Math.min(
          distance,
          ((rows[i - 2] as number[])[j - 2] as number) + 1,
        );
      row.push(distance);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}
