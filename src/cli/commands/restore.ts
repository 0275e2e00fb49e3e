/** `blindsync restore REPO TARGET` (and the bare `blindsync REPO TARGET` form). */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import { restoreSnapshot, type RestoreResult } from "../../engine/index.js";
import { applyRootMeta } from "../../engine/root-meta.js";
import { resolveSnapshot } from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { withRepository, type CommandContext } from "../context.js";
import { formatBytes } from "../output/format.js";
import { formatDuration, progressLine } from "../output/output.js";
import { collect, contextOf } from "./shared.js";

export interface RestoreCommandOptions {
  readonly repository: string;
  readonly target: string;
  readonly snapshot?: string;
  readonly include?: readonly string[];
  readonly delete?: boolean;
}

export async function runRestore(
  context: CommandContext,
  options: RestoreCommandOptions,
): Promise<RestoreResult> {
  const { output } = context;
  const startedAt = Date.now();
  const { result, id } = await withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const snapshot = resolveSnapshot(snapshots, options.snapshot ?? "latest");
      const include = options.include ?? [];
      const restored = await restoreSnapshot({
        repo,
        snapshot,
        target: options.target,
        include,
        delete: options.delete ?? false,
        sink: {
          progress(progress) {
            output.status(
              progressLine({
                verb: "Restored",
                files: progress.files,
                bytes: progress.bytes,
                startedAt,
                totalBytes: progress.totalBytes ?? snapshot.stats.bytes,
              }),
            );
            if (output.json) output.jsonLine({ type: "status", ...progress });
          },
          warn(message) {
            output.warn(message);
          },
        },
      });
      if (include.length === 0 && snapshot.root !== undefined)
        await applyRootMeta(options.target, snapshot.root);
      return { result: restored, id: snapshot.id };
    },
  );
  output.endStatus();
  const seconds = (Date.now() - startedAt) / 1000;
  if (output.json) {
    output.jsonLine({
      type: "summary",
      snapshot: toHex(id),
      ...result,
      seconds,
    });
  } else {
    output.line(
      `Restored snapshot ${toHex(id).slice(0, 8)} to "${options.target}": ${result.files} files, ${result.dirs} directories, ` +
        `${result.symlinks} symlinks, ${formatBytes(result.bytes)} in ${formatDuration(seconds)}` +
        (result.skippedIdentical > 0
          ? ` (${result.skippedIdentical} files already identical)`
          : ""),
    );
  }
  if (result.errors > 0) {
    throw new BlindsyncError(
      "integrity",
      `${result.errors} files or directories could not be restored (see the warnings above)`,
    );
  }
  return result;
}

export function restoreCommand(): Command {
  return new Command("restore")
    .description("restore a snapshot into a directory")
    .argument("<repo>", "the repository")
    .argument("<target>", "the directory to restore into (created if missing)")
    .option(
      "-s, --snapshot <id>",
      'snapshot id, unique prefix or "latest"',
      "latest",
    )
    .option(
      "-i, --include <path>",
      "restore only this path of the snapshot (repeatable)",
      collect,
      [],
    )
    .option(
      "--delete",
      "delete files in the target that the snapshot does not have",
    )
    .addHelpText(
      "after",
      `
Every file is written under a temporary name, checked against its SHA-256, then renamed:
nothing unverified ever appears under a real name. Files already identical in the target
are left alone. Names that could escape the target are refused.

Examples:
  blindsync restore /mnt/usb/vault ~/Documents
  blindsync me@host:vault ~/Documents                  (the same for the latest snapshot)
  blindsync restore me@host:vault /tmp/old --snapshot 1a2b3c4d --include notes/todo.txt`,
    )
    .action(
      async (
        repository: string,
        target: string,
        flags: { snapshot: string; include: string[]; delete?: boolean },
        command: Command,
      ) => {
        await runRestore(contextOf(command), {
          repository,
          target,
          snapshot: flags.snapshot,
          include: flags.include,
          delete: flags.delete === true,
        });
      },
    );
}
