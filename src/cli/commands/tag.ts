/**
 * `blindsync tag REPO ID... [--add T]... [--remove T]...`: changes the tags of existing
 * snapshots. A snapshot record is encrypted and its id is the keyed hash of its content, so
 * a changed snapshot is written anew and its old record removed, as restic does; where the
 * new record sits in the head chain (so that pins and rollback detection hold) is decided in
 * repo/snapshot-rewrite.ts.
 */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import { planSnapshotChanges, type Snapshot } from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { withRepository, type CommandContext } from "../context.js";
import { applyChanges, namedSnapshots, shortId } from "./snapshot-changes.js";
import { collect, contextOf } from "./shared.js";
import { plural } from "../output/format.js";

export interface TagOptions {
  readonly repository: string;
  /** Snapshot ids, unique prefixes or "latest". */
  readonly ids: readonly string[];
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

export interface TagResult {
  readonly changed: number;
  readonly unchanged: number;
}

/** `--add a,b --add c` -> [a, b, c]; an empty tag is refused. */
export function splitTags(flag: string, values: readonly string[]): string[] {
  const tags = values
    .flatMap((value) => value.split(","))
    .map((tag) => tag.trim());
  if (tags.some((tag) => tag === "")) {
    throw new BlindsyncError(
      "usage",
      `--${flag} needs tag names, not an empty one`,
      {
        hint: `For example: --${flag} daily or --${flag} daily,home`,
      },
    );
  }
  return tags;
}

/** The snapshot's tags with `add` appended (each once) and `remove` taken out, in order. */
export function changedTags(
  snapshot: Snapshot,
  add: readonly string[],
  remove: readonly string[],
): string[] {
  const tags = [...snapshot.tags];
  for (const tag of add) if (!tags.includes(tag)) tags.push(tag);
  return tags.filter((tag) => !remove.includes(tag));
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((tag, index) => tag === b[index]);
}

function checkTagOptions(add: readonly string[], remove: readonly string[]) {
  if (add.length === 0 && remove.length === 0) {
    throw new BlindsyncError(
      "usage",
      "Nothing to change: give --add or --remove",
      {
        hint: "For example: blindsync tag REPO 1a2b3c4d --add keep",
      },
    );
  }
  const both = add.filter((tag) => remove.includes(tag));
  if (both.length > 0) {
    throw new BlindsyncError(
      "usage",
      `Tag "${both[0] as string}" is both added and removed`,
    );
  }
}

export async function runTag(
  context: CommandContext,
  options: TagOptions,
): Promise<TagResult> {
  checkTagOptions(options.add, options.remove);
  const { output } = context;
  return withRepository(context, options.repository, async (unlocked) => {
    const named = namedSnapshots(unlocked.snapshots, options.ids);
    const retag = named
      .map((snapshot) => ({
        snapshot,
        tags: changedTags(snapshot, options.add, options.remove),
      }))
      .filter(({ snapshot, tags }) => !sameTags(snapshot.tags, tags));
    const changing = new Set(retag.map(({ snapshot }) => snapshot));
    for (const snapshot of named.filter((one) => !changing.has(one))) {
      if (output.json)
        output.jsonLine({
          type: "unchanged",
          id: toHex(snapshot.id),
          tags: snapshot.tags,
        });
      else
        output.line(
          `${shortId(snapshot)}  unchanged  [${snapshot.tags.join(", ")}]`,
        );
    }
    const plan = planSnapshotChanges(unlocked.snapshots, {
      retag,
      pinSeq: unlocked.cache.pin?.lastSeq ?? 0,
    });
    const { written } = await applyChanges(unlocked, plan);
    for (const { from, to } of written) {
      if (output.json)
        output.jsonLine({
          type: "rewritten",
          reason: "retag",
          from: toHex(from.id),
          to: toHex(to.id),
          time: to.time,
          host: to.host,
          paths: to.paths,
          tags: to.tags,
        });
      else
        output.line(
          `${shortId(from)} -> ${shortId(to)}  [${to.tags.join(", ")}]`,
        );
    }
    const result = {
      changed: written.length,
      unchanged: named.length - written.length,
    };
    if (output.json) output.jsonLine({ type: "summary", ...result });
    else
      output.line(
        `Changed the tags of ${plural(result.changed, "snapshot")} (${result.unchanged} unchanged); a changed snapshot has a new id`,
      );
    return result;
  });
}

export function tagCommand(): Command {
  return new Command("tag")
    .description("add and remove tags on existing snapshots")
    .argument("<repo>", "the repository")
    .argument("<ids...>", 'snapshot ids, unique prefixes or "latest"')
    .option(
      "--add <tags>",
      "add these comma-separated tags (repeatable)",
      collect,
      [],
    )
    .option(
      "--remove <tags>",
      "remove these comma-separated tags (repeatable)",
      collect,
      [],
    )
    .addHelpText(
      "after",
      `
A snapshot is an encrypted record named by a keyed hash of its content, so new tags make a
new record: the snapshot gets a new id (printed), and the old record is removed. It keeps
its place in history; the newest snapshot stays the newest ("latest"), and every client's
rollback check still recognises it. Tags select snapshots for --tag and forget --keep-tag.

With --json: one object per snapshot ({type: "rewritten", from, to, tags, ...} or
{type: "unchanged", id, tags}), then {type: "summary", changed, unchanged}.

Examples:
  blindsync tag me@host:vault 1a2b3c4d --add keep
  blindsync tag me@host:vault latest --add release,v2 --remove daily
  blindsync forget me@host:vault --keep-daily 7 --keep-tag keep`,
    )
    .action(
      async (
        repository: string,
        ids: string[],
        flags: { add: string[]; remove: string[] },
        command: Command,
      ) => {
        await runTag(contextOf(command), {
          repository,
          ids,
          add: splitTags("add", flags.add),
          remove: splitTags("remove", flags.remove),
        });
      },
    );
}
