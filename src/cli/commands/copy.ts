/**
 * `blindsync copy FROM_REPO TO_REPO [ID...] [--host H] [--path P] [--tag T]`: snapshots from
 * one repository into another (engine/copy.ts), each opened with its own passphrase: the
 * destination with the usual ones (BLINDSYNC_PASSWORD, --password-file, --password-command),
 * the source with their `from` twins, as restic's `copy --from-repo` names them.
 */
import { Command } from "commander";
import { BlindsyncError, isBlindsyncError } from "../../errors.js";
import { copy, type CopyResult } from "../../engine/index.js";
import {
  acquireBackupLock,
  assessChain,
  CopyIds,
  selectSnapshot,
  snapshotPredicate,
  type BackupLock,
  type Snapshot,
  type SnapshotFilter,
} from "../../repo/index.js";
import { resolveLocation } from "../../store/index.js";
import { bytesEqual, toHex } from "../../util/bytes.js";
import {
  cacheRoot,
  withRepository,
  type CommandContext,
  type GlobalOptions,
} from "../context.js";
import { interrupts, type InterruptedWork } from "../interrupt.js";
import { formatBytes, plural } from "../output/format.js";
import { formatDuration } from "../output/output.js";
import {
  addFilterOptions,
  FILTER_RULES,
  filterOf,
  type FilterOptionValues,
} from "./filter-options.js";
import { parseWait } from "./forget.js";
import { contextOf } from "./shared.js";
import { describeSnapshot, shortId } from "./snapshot-changes.js";

export interface CopyCommandOptions {
  readonly from: string;
  readonly to: string;
  /** Snapshot ids, unique prefixes or "latest"; none copies every snapshot the filter picks. */
  readonly ids?: readonly string[];
  readonly filter?: SnapshotFilter;
  /** The source's passphrase file and command (its variable is BLINDSYNC_FROM_PASSWORD). */
  readonly fromPasswordFile?: string;
  readonly fromPasswordCommand?: string;
  /** How long to wait for a prune of either repository, or a backup into TO from here. */
  readonly lockWaitMs?: number;
}

const STATUS_MS = 250;

const FROM_HOW =
  "BLINDSYNC_FROM_PASSWORD, --from-password-file or --from-password-command";

/** The context the source is opened with: its own passphrase sources, nothing of the other's. */
function sourceContext(
  context: CommandContext,
  options: CopyCommandOptions,
): CommandContext {
  // The destination's passphrase file and command are not the source's.
  const globals: { -readonly [K in keyof GlobalOptions]: GlobalOptions[K] } = {
    ...context.globals,
  };
  delete globals.passwordFile;
  delete globals.passwordCommand;
  return {
    ...context,
    env: {
      ...context.env,
      BLINDSYNC_PASSWORD: context.env.BLINDSYNC_FROM_PASSWORD,
      BLINDSYNC_KEY_SLOT: context.env.BLINDSYNC_FROM_KEY_SLOT,
    },
    globals: {
      ...globals,
      ...(options.fromPasswordFile === undefined
        ? {}
        : { passwordFile: options.fromPasswordFile }),
      ...(options.fromPasswordCommand === undefined
        ? {}
        : { passwordCommand: options.fromPasswordCommand }),
    },
    passphraseNames: {
      label: "passphrase of the source repository",
      how: FROM_HOW,
    },
  };
}

/**
 * A wrong passphrase said which repository it was wrong for: with two passphrases in play the
 * store's words alone ("no key slot matches") leave the user guessing.
 */
function namingSide(
  error: unknown,
  side: "source" | "destination",
  repository: string,
): unknown {
  if (!isBlindsyncError(error, "wrong-passphrase")) return error;
  const how =
    side === "source"
      ? FROM_HOW
      : "BLINDSYNC_PASSWORD, --password-file or --password-command";
  return new BlindsyncError(
    "wrong-passphrase",
    `Cannot open the ${side} repository "${repository}": ${error.message.charAt(0).toLowerCase()}${error.message.slice(1)}`,
    { hint: `Its passphrase comes from ${how}`, cause: error },
  );
}

/** The snapshots named, or else every snapshot of the head chain the filter picks. */
function selected(
  snapshots: readonly Snapshot[],
  ids: readonly string[],
  filter: SnapshotFilter,
): Snapshot[] {
  if (ids.length === 0)
    return assessChain(snapshots).chain.filter(snapshotPredicate(filter));
  const named = new Map<string, Snapshot>();
  for (const reference of ids) {
    const snapshot = selectSnapshot(snapshots, reference, filter);
    named.set(toHex(snapshot.id), snapshot);
  }
  return [...named.values()];
}

export function describeInterruptedCopy(work: InterruptedWork): string {
  const lock = work.lockHeld ? "; the repository locks are released" : "";
  return `Copy interrupted by ${work.signal}: the snapshots already copied are complete, and nothing is lost. Run the same copy again to finish: it skips what was copied and reuses the data already uploaded${lock}`;
}

export async function runCopy(
  context: CommandContext,
  options: CopyCommandOptions,
): Promise<CopyResult> {
  const { output } = context;
  if (resolveLocation(options.from).key === resolveLocation(options.to).key) {
    throw new BlindsyncError(
      "usage",
      `Cannot copy "${options.from}" into itself`,
      { hint: "blindsync copy FROM_REPO TO_REPO [ID...]" },
    );
  }
  const startedAt = Date.now();
  let lock: BackupLock | undefined;
  const interrupted = [
    interrupts.describeWith(describeInterruptedCopy),
    interrupts.onInterrupt(() => lock?.release()),
  ];
  /** JSON status lines at most every STATUS_MS: a line per blob read would flood a pipe. */
  let lastStatus = 0;
  let sourceOpen = false;
  let destinationOpen = false;
  const result = await withRepository(
    sourceContext(context, options),
    options.from,
    async (from) => {
      sourceOpen = true;
      const snapshots = selected(
        from.snapshots,
        options.ids ?? [],
        options.filter ?? filterOf({}),
      );
      return withRepository(context, options.to, async (to, location) => {
        destinationOpen = true;
        if (bytesEqual(from.repo.id, to.repo.id)) {
          throw new BlindsyncError(
            "usage",
            `"${options.from}" and "${options.to}" are the same repository`,
          );
        }
        // Written like a backup's: one writer per location and client cache (exit 11).
        lock = await acquireBackupLock(cacheRoot(context), location.key, {
          location: options.to,
          waitMs: options.lockWaitMs ?? 0,
          onWait() {
            output.warn(
              `Waiting for the backup into "${options.to}" from this machine to finish`,
            );
          },
        });
        const ids = CopyIds.open(cacheRoot(context), location.key, {
          sourceId: from.repo.id,
          sourceKeyCheck: from.repo.keyCheckValue,
          destinationId: to.repo.id,
          destinationKeyCheck: to.repo.keyCheckValue,
        });
        try {
          return await copy({
            source: from.repo,
            destination: to.repo,
            cache: to.cache,
            ids,
            snapshots,
            lockWaitMs: options.lockWaitMs ?? 0,
            sink: {
              progress(progress) {
                output.status(
                  `Copying snapshot ${String(progress.snapshot)} of ${String(progress.snapshots)}: ` +
                    `${String(progress.trees)} directories, ${formatBytes(progress.bytesRead)} read`,
                );
                const now = Date.now();
                if (output.json && now - lastStatus >= STATUS_MS) {
                  lastStatus = now;
                  output.jsonLine({ type: "status", ...progress });
                }
              },
              skipped(snapshot, copied) {
                output.endStatus();
                if (output.json)
                  output.jsonLine({
                    type: "skipped",
                    id: toHex(snapshot.id),
                    copy: toHex(copied.id),
                  });
                else
                  output.line(
                    `${describeSnapshot(snapshot)}  already copied as ${shortId(copied)}`,
                  );
              },
              copied(source, written, added) {
                output.endStatus();
                if (output.json)
                  output.jsonLine({
                    type: "copied",
                    from: toHex(source.id),
                    to: toHex(written.id),
                    time: written.time,
                    host: written.host,
                    paths: written.paths,
                    tags: written.tags,
                    ...added,
                  });
                else
                  output.line(
                    `${describeSnapshot(source)}  copied as ${shortId(written)} (${formatBytes(added.bytesAdded)} new data)`,
                  );
              },
              warn(message) {
                output.warn(message);
              },
            },
          });
        } finally {
          ids.close();
        }
      });
    },
  )
    .catch((error: unknown) => {
      if (!sourceOpen) throw namingSide(error, "source", options.from);
      if (!destinationOpen) throw namingSide(error, "destination", options.to);
      throw error;
    })
    .finally(() => {
      lock?.release();
      for (const forget of interrupted) forget();
    });
  output.endStatus();
  const seconds = (Date.now() - startedAt) / 1000;
  if (output.json) {
    output.jsonLine({
      type: "summary",
      copied: result.copied.length,
      skipped: result.skipped.length,
      trees: result.trees,
      blobsRead: result.blobsRead,
      bytesRead: result.bytesRead,
      blobsAdded: result.blobsAdded,
      bytesAdded: result.bytesAdded,
      bytesStored: result.bytesStored,
      seconds,
    });
  } else if (result.copied.length === 0 && result.skipped.length === 0) {
    output.line("No snapshot to copy");
  } else {
    output.line(
      `${plural(result.copied.length, "snapshot")} copied, ${String(result.skipped.length)} already there, in ${formatDuration(seconds)}; ` +
        `added ${plural(result.blobsAdded, "blob")} (${formatBytes(result.bytesAdded)} new data, ${formatBytes(result.bytesStored)} stored)`,
    );
  }
  return result;
}

export function copyCommand(): Command {
  const command = new Command("copy")
    .description(
      "copy snapshots from one repository into another, re-encrypted for it",
    )
    .argument("<from_repo>", "the repository to copy from")
    .argument("<to_repo>", "the repository to copy into (it must exist)")
    .argument(
      "[ids...]",
      'snapshot ids, unique prefixes or "latest" (default: every snapshot)',
    )
    .option(
      "--from-password-file <file>",
      "read the source repository's passphrase from a file",
    )
    .option(
      "--from-password-command <cmd>",
      "run a command that prints the source repository's passphrase",
    )
    .option(
      "--lock-wait <duration>",
      "how long to wait for a prune of either repository, or a backup into TO_REPO from this machine (0, 90s, 10m)",
      "0",
    );
  return addFilterOptions(command, "copy")
    .addHelpText(
      "after",
      `
Each repository has its own keys, so nothing is copied as stored: every blob is decrypted in
memory, given its id under the destination's keys and encrypted again; nothing reaches the
disk in the clear. Blobs the destination already holds are not sent, and what one copy
learnt makes the next one read only what changed. The copies keep their time, host, paths
and tags, and join the destination's history in the order they were copied, oldest first,
so the newest one copied becomes its "latest".

A snapshot the destination already holds a copy of is skipped, so running the same copy
again copies only what is new; a copy stopped by Ctrl-C or a lost connection loses nothing
and the next run finishes it.

Passphrases: TO_REPO's from BLINDSYNC_PASSWORD, --password-file or --password-command;
FROM_REPO's from BLINDSYNC_FROM_PASSWORD, --from-password-file or --from-password-command;
each is asked for on a terminal when none is given.

Without ids, every snapshot of the head chain that --host, --path and --tag pick is copied
(one left out of the chain, which every command names in a warning, only when named by id).
${FILTER_RULES}

With --json: one {type: "copied", from, to, time, host, paths, tags, blobsAdded, bytesAdded}
or {type: "skipped", id, copy} per snapshot, then {type: "summary", copied, skipped, ...}.

Examples:
  blindsync copy /mnt/usb/vault me@host:vault --from-password-file ~/.usb-pass
  blindsync copy me@host:vault s3:bucket/vault latest --host laptop
  BLINDSYNC_FROM_PASSWORD=... blindsync copy sftp:box:vault /srv/vault --tag keep`,
    )
    .action(
      async (
        from: string,
        to: string,
        ids: string[],
        flags: FilterOptionValues & {
          fromPasswordFile?: string;
          fromPasswordCommand?: string;
          lockWait: string;
        },
        self: Command,
      ) => {
        await runCopy(contextOf(self), {
          from,
          to,
          ids,
          filter: filterOf(flags),
          lockWaitMs: parseWait(flags.lockWait),
          ...(flags.fromPasswordFile === undefined
            ? {}
            : { fromPasswordFile: flags.fromPasswordFile }),
          ...(flags.fromPasswordCommand === undefined
            ? {}
            : { fromPasswordCommand: flags.fromPasswordCommand }),
        });
      },
    );
}
