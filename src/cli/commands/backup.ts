/**
 * `blindsync backup SRC... REPO` (and the bare `blindsync SRC... REPO` form).
 *
 * Over 400 lines because the command has many flags, each with its help text and its check;
 * the progress sink and summary live in backup-report.ts and --stdin's checks in
 * backup-stdin.ts.
 */
import { lstatSync } from "node:fs";
import { basename, resolve } from "node:path";
import { Command } from "commander";
import { BlindsyncError, describeError } from "../../errors.js";
import {
  backup,
  Prewalk,
  readPatternFile,
  type BackupResult,
} from "../../engine/index.js";
import {
  acquireBackupLock,
  compressionModes,
  headOf,
  readPin,
  type BackupLock,
  type CompressionMode,
  type Snapshot,
} from "../../repo/index.js";
import { cacheRoot, withRepository, type CommandContext } from "../context.js";
import { interrupts, type InterruptedWork } from "../interrupt.js";
import { backupSink, printBackupSummary } from "./backup-report.js";
import {
  combineSources,
  followSource,
  parseSize,
  readFilesFrom,
} from "./backup-selection.js";
import { parseWait } from "./forget.js";
import { runInit } from "./init.js";
import { stdinSource, type StdinFlags } from "./backup-stdin.js";
import { collect, contextOf } from "./shared.js";
import { capYoungGeneration } from "../../util/young-generation.js";

/**
 * The head the new snapshot follows. The one read at unlock is stale when another backup from
 * this cache committed while this one waited for the backup lock (or between the unlock and
 * the lock: the pin, which every backup advances, then shows a newer head); building on it
 * would fork the chain, so the snapshots are listed again.
 */
async function currentHead(
  repo: { listSnapshots(): Promise<Snapshot[]> },
  headAtUnlock: Snapshot | undefined,
  waited: boolean,
  pinnedSeq: number | undefined,
): Promise<Snapshot | undefined> {
  if (!waited && (pinnedSeq ?? 0) <= (headAtUnlock?.seq ?? 0))
    return headAtUnlock;
  return headOf(await repo.listSnapshots());
}

/** What a backup stopped by Ctrl-C or SIGTERM says (cli/interrupt.ts). */
export function describeInterruptedBackup(work: InterruptedWork): string {
  const lock = work.lockHeld ? "; the repository lock is released" : "";
  if (work.snapshotSent)
    return `Backup interrupted by ${work.signal} while its snapshot was being saved: list the snapshots to see whether it was. Nothing is lost either way: the data already uploaded stays, and the next backup reuses it${lock}`;
  return `Backup interrupted by ${work.signal}: no snapshot was written. Nothing is lost: the data already uploaded stays in the repository, and the next backup reuses it instead of sending it again${lock}`;
}

export interface BackupCommandOptions extends StdinFlags {
  readonly sources: readonly string[];
  readonly repository: string;
  readonly excludes?: readonly string[];
  readonly excludeFile?: string;
  /** Skip the contents of directories holding a valid CACHEDIR.TAG, keeping the tag. */
  readonly excludeCaches?: boolean;
  /** --exclude-larger-than: skip regular files above this size ("10M", "1G": parseSize). */
  readonly excludeLargerThan?: string;
  /** --one-file-system: stay on each source's device (mount points are kept empty). */
  readonly oneFileSystem?: boolean;
  /** --files-from: files listing more sources, one path per line ("-" is stdin). */
  readonly filesFrom?: readonly string[];
  readonly tags?: readonly string[];
  readonly time?: string;
  readonly dryRun?: boolean;
  /** auto, off or max; else $BLINDSYNC_COMPRESSION, else auto. */
  readonly compression?: string;
  /** Create the repository first when there is none (the passphrase is then asked twice). */
  readonly init?: boolean;
  /**
   * How long to wait for another backup of this location from this cache, and for a prune's
   * exclusive lock; 0 (the default) fails at once with exit 11.
   */
  readonly lockWaitMs?: number;
}

function parseTime(text: string): Date {
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) {
    throw new BlindsyncError(
      "usage",
      `--time "${text}" is not an ISO 8601 date`,
      { hint: "For example 2026-01-31T12:00:00Z" },
    );
  }
  return time;
}

/**
 * The sources as the backup will check them (engine/backup/sources.ts: each one must exist,
 * and several may not share a base name, since each is stored under it), checked before
 * `--init` creates anything.
 */
function checkSources(sources: readonly string[]): void {
  const names = new Set<string>();
  for (const source of sources) {
    const path = resolve(source);
    try {
      lstatSync(path);
    } catch (error) {
      throw new BlindsyncError(
        "usage",
        `Cannot back up "${path}": ${describeError(error)}`,
        { cause: error },
      );
    }
    const name = basename(path);
    if (sources.length > 1 && names.has(name))
      throw new BlindsyncError(
        "usage",
        `Two sources have the same name "${name}"`,
        {
          hint: "Each source is stored under its base name; back them up separately",
        },
      );
    names.add(name);
  }
}

/** --compression, else $BLINDSYNC_COMPRESSION (as --ssh falls back to $BLINDSYNC_SSH). */
function parseCompression(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
): CompressionMode {
  const fromEnv = env.BLINDSYNC_COMPRESSION;
  const text = flag ?? (fromEnv === "" ? undefined : fromEnv) ?? "auto";
  const mode = compressionModes.find((candidate) => candidate === text);
  if (mode === undefined)
    throw new BlindsyncError(
      "usage",
      `${flag === undefined ? "BLINDSYNC_COMPRESSION" : "--compression"} "${text}" is not a compression mode`,
      { hint: "Use auto, off or max" },
    );
  return mode;
}

export async function runBackup(
  context: CommandContext,
  options: BackupCommandOptions,
): Promise<BackupResult> {
  const { output } = context;
  const excludes = [...(options.excludes ?? [])];
  if (options.excludeFile !== undefined)
    excludes.push(...readPatternFile(options.excludeFile));
  const time = options.time === undefined ? undefined : parseTime(options.time);
  const compression = parseCompression(options.compression, context.env);
  // What is read: the sources and --files-from's, and the rules on sizes and devices. A
  // stream on standard input goes alone, checked before any list (`-` reads stdin) is read.
  if (options.stdin === true && (options.filesFrom ?? []).length > 0)
    throw new BlindsyncError(
      "usage",
      "--stdin takes no --files-from beside it: the stream is the snapshot's one file",
    );
  const sources = combineSources(
    options.sources,
    readFilesFrom(options.filesFrom ?? []),
  ).map((source) => {
    const followed = followSource(source);
    if (followed.note !== undefined) output.warn(followed.note);
    return followed.path;
  });
  const selection = {
    ...(options.excludeLargerThan === undefined
      ? {}
      : {
          excludeLargerThan: parseSize(
            options.excludeLargerThan,
            "--exclude-larger-than",
          ),
        }),
    oneFileSystem: options.oneFileSystem === true,
  };
  const stdin = stdinSource(options, sources);
  if (options.init === true) {
    // Before the repository is made: a backup refused for its sources leaves none behind.
    checkSources(sources);
    await runInit(context, { repository: options.repository, ifMissing: true });
  }
  const startedAt = Date.now();
  // Lists the sources while the repository connects and unlocks (engine/backup/prewalk.ts).
  const excludeCaches = options.excludeCaches === true;
  // On a terminal it also counts the walk's totals for the progress line.
  const prewalk = Prewalk.start(sources, excludes, undefined, {
    excludeCaches,
    ...selection,
    scan: output.showsStatus,
  });
  let lock: BackupLock | undefined;
  const interrupted = [
    options.dryRun === true
      ? () => undefined
      : interrupts.describeWith(describeInterruptedBackup),
    interrupts.onInterrupt(() => lock?.release()),
    interrupts.onInterrupt(() => {
      output.endStatus();
    }),
  ];
  const result = await withRepository(
    context,
    options.repository,
    async ({ repo, cache, head: headAtUnlock }, location) => {
      // One backup at a time per location and cache (repo/cache/backup-lock.ts). Taken only
      // once the repository and the passphrase have proved themselves, so that a refused
      // backup (no repository, a foreign one, a wrong passphrase) leaves no cache behind. A
      // dry run writes nothing in the cache and runs beside anything.
      let waited = false;
      if (options.dryRun !== true) {
        lock = await acquireBackupLock(cacheRoot(context), location.key, {
          location: options.repository,
          waitMs: options.lockWaitMs ?? 0,
          onWait(holder) {
            waited = true;
            const who =
              holder === undefined ? "" : ` (pid ${String(holder.pid)})`;
            output.warn(
              `Waiting for the other backup of "${options.repository}" from this machine${who} to finish`,
            );
          },
        });
      }
      const head = await currentHead(
        repo,
        headAtUnlock,
        waited,
        readPin(cacheRoot(context), location.key)?.lastSeq,
      );
      return backup({
        repo,
        cache,
        head,
        prewalk,
        sources,
        ...(stdin === undefined ? {} : { stdin }),
        excludes,
        excludeCaches,
        ...selection,
        tags: options.tags ?? [],
        ...(time === undefined ? {} : { time }),
        dryRun: options.dryRun ?? false,
        compression,
        lockWaitMs: options.lockWaitMs ?? 0,
        sink: backupSink(output, startedAt, prewalk),
      });
    },
  ).finally(() => {
    // Also on failure: the progress line redraws itself until ended.
    output.endStatus();
    prewalk.clear();
    lock?.release();
    for (const forget of interrupted) forget();
  });
  printBackupSummary(output, result, {
    seconds: (Date.now() - startedAt) / 1000,
    dryRun: options.dryRun ?? false,
  });
  if (result.warnings > 0) {
    throw new BlindsyncError(
      "partial",
      `${result.warnings} files or directories could not be read and were skipped`,
    );
  }
  return result;
}

export function backupCommand(): Command {
  return new Command("backup")
    .description("back up files and directories into a new snapshot")
    .argument(
      "<paths...>",
      "one or more sources (none with --stdin), then the repository (last)",
    )
    .option(
      "-e, --exclude <pattern>",
      "exclude paths matching a gitignore-style pattern (repeatable)",
      collect,
      [],
    )
    .option(
      "--exclude-file <file>",
      "read exclude patterns from a file, one per line",
    )
    .option(
      "--exclude-caches",
      "skip the contents of directories holding a valid CACHEDIR.TAG (the tag is kept)",
    )
    .option(
      "--exclude-larger-than <size>",
      "skip regular files larger than SIZE (500K, 10M, 1G: binary units)",
    )
    .option(
      "-x, --one-file-system",
      "do not cross into other file systems: mount points are kept as empty directories",
    )
    .option(
      "--files-from <file>",
      "read more sources from FILE, one path per line; # comments; - is stdin (repeatable)",
      collect,
      [],
    )
    .option(
      "--tag <tag>",
      "add a tag to the snapshot (repeatable)",
      collect,
      [],
    )
    .option(
      "--time <iso8601>",
      "record this time as the snapshot time (imports, tests)",
    )
    .option(
      "--compression <mode>",
      "auto, off or max (default $BLINDSYNC_COMPRESSION or auto)",
    )
    .option(
      "--stdin",
      "back up standard input as one file, in a snapshot of its own (no sources)",
    )
    .option(
      "--stdin-filename <name>",
      'the name that file gets in the snapshot (default "stdin")',
    )
    .option("--init", "create the repository first if there is none")
    .option(
      "--lock-wait <duration>",
      "how long to wait for another backup of this repository from this machine, or a prune (0, 90s, 10m, 2h)",
      "0",
    )
    .option(
      "-n, --dry-run",
      "read and chunk everything, upload nothing, write no snapshot",
    )
    .addHelpText(
      "after",
      `
One source directory is stored as the snapshot's root (rsync's SRC/), so restoring it
recreates the directory's contents. Several sources each go under their base name.
A source that is a symlink to a directory is stored as the link, as restic and borg store
it; write it with a trailing slash (~/Documents/) to back up the directory it points to.
Files named .blindsyncignore exclude paths below their directory, with .gitignore syntax.
Unchanged files (same inode, size, mtime and ctime as last time) are not read again.

-v lists each file that is read, "+ PATH" when this machine's cache has no record of it (all
files on a first backup from here, or after a prune), "M PATH" when it changed; the summary
counts files new, changed and unchanged ({"type": "file"} lines and filesNew, filesChanged,
filesUnchanged with --json). On a terminal a progress line shows the elapsed time, files and
bytes done of the total a scan of the sources found, percent, rate, ETA and the file being
read; it is not drawn with -q, --json or when stderr is not a terminal.

--one-file-system (-x) stays on the device of each source, as restic -x and rsync -x do: a
directory where another file system is mounted is kept, empty. --exclude-larger-than skips
regular files above a size (binary units, as restic: 1K = 1024 bytes). --files-from adds
the paths a file lists, one per line (blank lines and lines starting with # are ignored,
spaces around a path trimmed; "-" reads the list from stdin) to those on the command line:
each is a source like them, stored under its base name.
--exclude-caches skips what a directory holds when it has a CACHEDIR.TAG starting with the
standard signature (https://bford.info/cachedir/), keeping the tag itself, as tar and restic
do; blindsync's own cache directory carries one.

Ctrl-C (or SIGTERM) stops a backup cleanly: it says so, writes no snapshot, releases the
repository lock at once and exits 130 (143); nothing is lost, since the next backup reuses
the data already uploaded. A second Ctrl-C exits at once.

--compression auto (the default) compresses with zstd what compresses; max compresses
harder (on text about 15 % smaller and 4 times slower); off compresses nothing, at the cost
of space. Choose off when someone you do not trust can both put content of their choosing
into files beside your secrets (a shared or synced folder) and watch the repository's stored
sizes: compressed sizes shrink when their guess matches your data, so they can learn a
secret byte by byte, as CRIME and BREACH did to HTTPS.

Examples:
  blindsync backup ~/Documents /mnt/usb/vault
  blindsync ~/Documents me@host:vault                  (the same, shorter)
  blindsync backup ~/src ~/notes me@host:vault --exclude node_modules --tag daily
  blindsync backup ~ me@host:vault --exclude-caches   (skips ~/.cache/blindsync and its kind)
  blindsync backup / me@host:vault -x --exclude-larger-than 1G   (root file system only)
  blindsync backup --files-from ~/backup-list.txt me@host:vault -v
      (~/backup-list.txt: "# what to keep", "/home/me/Documents", "/etc", ...)
  blindsync backup ~/secrets me@host:vault --compression off

--stdin stores a stream (a database dump, a tar) as one file NAME at the root of a snapshot
of its own, chunked like any file so that successive dumps share most of their data; restore
it with blindsync cat REPO NAME or restore. An empty stream is stored as an empty file, and
blindsync cannot tell a dump that failed halfway: let the shell fail the pipe (set -o pipefail).
  pg_dump mydb | blindsync backup --stdin --stdin-filename mydb.sql me@host:vault
  blindsync cat me@host:vault mydb.sql | psql mydb

Backups of one repository from one machine (one client cache) run one at a time: another one
exits 11 at once, naming the running backup's pid, unless --lock-wait lets it wait (a prune's
exclusive lock is waited for the same way).

Exit codes: 0 ok, 3 some files could not be read (the snapshot was still saved),
11 another backup of this repository from this machine, or a prune, is running.`,
    )
    .action(
      async (
        paths: string[],
        flags: {
          exclude: string[];
          excludeFile?: string;
          excludeCaches?: boolean;
          excludeLargerThan?: string;
          oneFileSystem?: boolean;
          filesFrom: string[];
          tag: string[];
          time?: string;
          dryRun?: boolean;
          compression?: string;
          init?: boolean;
          lockWait: string;
          stdin?: boolean;
          stdinFilename?: string;
        },
        command: Command,
      ) => {
        // With --stdin or --files-from the repository alone may be given.
        const withStdin = flags.stdin === true;
        if (paths.length < (withStdin || flags.filesFrom.length > 0 ? 1 : 2)) {
          throw new BlindsyncError(
            "usage",
            "backup needs at least one source and a repository",
            {
              hint: "blindsync backup SRC... REPO",
            },
          );
        }
        // The walk's young objects fit in 4 MiB: a larger new space is peak RSS only.
        capYoungGeneration();
        await runBackup(contextOf(command), {
          sources: paths.slice(0, -1),
          repository: paths.at(-1) as string,
          excludes: flags.exclude,
          excludeCaches: flags.excludeCaches === true,
          ...(flags.excludeLargerThan === undefined
            ? {}
            : { excludeLargerThan: flags.excludeLargerThan }),
          oneFileSystem: flags.oneFileSystem === true,
          filesFrom: flags.filesFrom,
          tags: flags.tag,
          ...(flags.excludeFile === undefined
            ? {}
            : { excludeFile: flags.excludeFile }),
          ...(flags.time === undefined ? {} : { time: flags.time }),
          ...(flags.compression === undefined
            ? {}
            : { compression: flags.compression }),
          dryRun: flags.dryRun === true,
          init: flags.init === true,
          ...(withStdin ? { stdin: true } : {}),
          ...(flags.stdinFilename === undefined
            ? {}
            : { stdinFilename: flags.stdinFilename }),
          lockWaitMs: parseWait(flags.lockWait),
        });
      },
    );
}
