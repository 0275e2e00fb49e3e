/**
 * The blindsync command line: builds the command
 * tree, rewrites the two short forms (`blindsync SRC... REPO` and `blindsync REPO TARGET`),
 * and maps every error kind to its exit code, printing one line and no stack trace unless -v.
 */
import { Command } from "commander";
import { report } from "./exit.js";
import { exitCodeOfSignal, interrupts } from "./interrupt.js";
import { shortFormGrammar, shortFormOf } from "./short-forms.js";
import { acceptRollbackCommand } from "./commands/accept-rollback.js";
import { backupCommand } from "./commands/backup.js";
import { browseCommands } from "./commands/browse.js";
import { checkCommand } from "./commands/check.js";
import { copyCommand } from "./commands/copy.js";
import { completionCommand } from "./commands/completion.js";
import { dumpCommand } from "./commands/dump.js";
import { findCommand } from "./commands/find.js";
import { forgetCommand, pruneCommand } from "./commands/forget.js";
import { initCommand } from "./commands/init.js";
import { scrubCommand } from "./commands/scrub.js";
import { keyCommand } from "./commands/key.js";
import { restoreCommand, type Invocation } from "./commands/restore.js";
import { repairCommand } from "./commands/repair.js";
import { serveCommand } from "./commands/serve.js";
import { statsCommand } from "./commands/stats.js";
import { tagCommand } from "./commands/tag.js";
import { unlockCommand } from "./commands/unlock.js";
import { VERSION, versionCommand } from "./commands/version.js";

export function buildProgram(
  invocation: Invocation = { shortRestore: false },
): Command {
  const program = new Command("blindsync")
    .description(
      "Encrypted, deduplicated backups with rsync's ease, for a server you do not trust.",
    )
    .version(VERSION)
    .option("--password-file <file>", "read the passphrase from a file")
    .option(
      "--password-command <cmd>",
      "run a command that prints the passphrase",
    )
    .option(
      "--cache-dir <dir>",
      "client cache directory (default $BLINDSYNC_CACHE_DIR or $XDG_CACHE_HOME/blindsync)",
    )
    .option(
      "--ssh <command>",
      'ssh command line for remote repositories (default $BLINDSYNC_SSH or "ssh")',
    )
    .option(
      "--remote-cmd <command>",
      'blindsync command on the server (default $BLINDSYNC_REMOTE_CMD or "blindsync")',
    )
    .option(
      "--s3-endpoint <url>",
      "S3 endpoint for s3: repositories (default $AWS_ENDPOINT_URL or AWS)",
    )
    .option(
      "--s3-path-style",
      "S3 path-style addressing (default: on for an IP address or localhost endpoint)",
    )
    .option(
      "--limit-upload <kib/s>",
      "hold uploads to the repository to this many KiB/s (backup, copy, prune)",
    )
    .option(
      "--limit-download <kib/s>",
      "hold downloads from the repository to this many KiB/s (restore, check, cat)",
    )
    .option("--json", "machine-readable output: JSON, one object per line")
    .option("-q, --quiet", "print only errors and warnings")
    .option("-v, --verbose", "more detail, and stack traces on errors")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      `
Short forms:
  blindsync SRC... REPO        back up (same as: blindsync backup SRC... REPO)
  blindsync REPO TARGET        restore the latest snapshot (same as: blindsync restore REPO TARGET)
                               into a missing or empty TARGET; with backups of several source
                               sets (host + paths), name one: --host H --path P

REPO is a local directory, [user@]host:path or ssh://[user@]host[:port]/path (a server
running blindsync), sftp:[user@]host:path or sftp://[user@]host[:port]/path (any sftp
account: nothing installed there), or s3:bucket/prefix (S3-compatible storage).
Over ssh, AES-GCM is asked for first when both CPUs have AES instructions, unless your
ssh command line or configuration names its own Ciphers.
The passphrase comes from BLINDSYNC_PASSWORD, --password-file, --password-command or a prompt.
Each command's --help shows its options and examples: blindsync find --help

Examples:
  blindsync init me@host:vault
  blindsync ~/Documents me@host:vault          (a backup)
  blindsync snapshots me@host:vault
  blindsync find me@host:vault '*.pdf'
  blindsync me@host:vault ~/Documents-copy     (restore the latest snapshot)

--limit-upload and --limit-download hold the repository's traffic to a rate, as restic's do:
  blindsync backup ~/photos me@host:vault --limit-upload 2048     (2 MiB/s up)
  blindsync restore me@host:vault ~/photos --limit-download 4096  (4 MiB/s down)

Environment:
  BLINDSYNC_PASSWORD       the passphrase (BLINDSYNC_NEW_PASSWORD: key add/passwd's new one;
                           BLINDSYNC_FROM_PASSWORD: copy's source repository's)
  BLINDSYNC_KEY_SLOT       the key slot to try first (BLINDSYNC_FROM_KEY_SLOT: copy's source)
  BLINDSYNC_CACHE_DIR      as --cache-dir
  BLINDSYNC_SSH            as --ssh;  BLINDSYNC_REMOTE_CMD  as --remote-cmd
  BLINDSYNC_COMPRESSION    backup's --compression: auto, off or max
  BLINDSYNC_PACK_SIZE      pack size in MiB for sftp:, s3: and --packs repositories (1 to 128,
                           default 8; larger packs: fewer objects, more memory)
  BLINDSYNC_WORKERS        a backup's sealing threads (default one per core besides the main
                           one; 0 seals on the main thread)
  BLINDSYNC_KDF_LOGN       scrypt cost of new key slots as log2 N (default 16: 64 MiB)
  AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_PROFILE
                           S3 settings, read as the AWS SDK reads them

Exit codes: 0 ok, 1 error, 2 usage, 3 some files unreadable, 10 no repository,
11 locked, 12 wrong passphrase, 13 integrity error, 14 rollback or foreign repository
(restored on purpose? blindsync accept-rollback REPO), 130 and 143 stopped by Ctrl-C or
SIGTERM (the repository lock is released; a second Ctrl-C exits at once).`,
    );
  program.addCommand(initCommand());
  program.addCommand(backupCommand());
  program.addCommand(restoreCommand(invocation));
  for (const command of browseCommands()) program.addCommand(command);
  program.addCommand(findCommand());
  program.addCommand(statsCommand());
  program.addCommand(dumpCommand());
  program.addCommand(checkCommand());
  program.addCommand(keyCommand());
  program.addCommand(forgetCommand());
  program.addCommand(pruneCommand());
  program.addCommand(tagCommand());
  program.addCommand(copyCommand());
  program.addCommand(repairCommand());
  program.addCommand(scrubCommand());
  program.addCommand(unlockCommand());
  program.addCommand(acceptRollbackCommand());
  program.addCommand(serveCommand());
  program.addCommand(versionCommand());
  program.addCommand(completionCommand());
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  showGlobalOptions(program);
  return program;
}

/**
 * Every command's --help lists the global options (--json, --password-file, -q, -v, the ssh
 * and S3 ones) below its own: they may be written after the command's name, and a user
 * reading one command's help should not have to know that. Not `serve`: ssh runs it on the
 * server, where none of them applies.
 */
function showGlobalOptions(command: Command): void {
  for (const sub of command.commands) {
    if (sub.name() === "serve") continue;
    sub.configureHelp({ ...sub.configureHelp(), showGlobalOptions: true });
    showGlobalOptions(sub);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const invocation: Invocation = { shortRestore: false };
  const program = buildProgram(invocation);
  const verbose = argv.includes("-v") || argv.includes("--verbose");
  try {
    const form = shortFormOf(argv, shortFormGrammar(program));
    invocation.shortRestore = form === "restore";
    const args = form === undefined ? [...argv] : [form, ...argv];
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    // After Ctrl-C the work fails as its store stops answering or closes: the signal's
    // message (interrupt.ts) says what happened, not this error.
    const signal = interrupts.signal;
    if (signal !== undefined) return exitCodeOfSignal(signal);
    return report(error, verbose);
  }
}
