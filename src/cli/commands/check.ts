/** `blindsync check REPO [--read-data | --read-data-subset N% | n/t]`: finds damage and names it. */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import {
  checkRepository,
  checkSelection,
  type CheckProblem,
  type CheckReport,
  type ReadDataSelection,
} from "../../engine/index.js";
import { withRepository, type CommandContext } from "../context.js";
import { displayPath, formatBytes, plural } from "../output/format.js";
import { contextOf } from "./shared.js";

export interface CheckCommandOptions {
  readonly repository: string;
  /** Read and verify every data blob. */
  readonly readData?: boolean;
  /** Read a subset: "N%" (a deterministic share of the blobs) or "n/t" (part n of t). */
  readonly readDataSubset?: string;
}

/** Parses `--read-data-subset`: "10%", "2.5%" or "n/t" such as "1/5". */
export function parseReadDataSubset(text: string): ReadDataSelection {
  const usage = (why: string): BlindsyncError =>
    new BlindsyncError("usage", `--read-data-subset "${text}": ${why}`, {
      hint: 'Give a percentage such as "10%" or a part such as "1/5" (then 2/5 ... 5/5 on later runs)',
    });
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  const part = /^(\d+)\/(\d+)$/.exec(text);
  let selection: ReadDataSelection;
  if (percent?.[1] !== undefined) {
    selection = { fraction: Number(percent[1]) / 100 };
  } else if (part?.[1] !== undefined && part[2] !== undefined) {
    selection = { part: Number(part[1]), of: Number(part[2]) };
  } else {
    throw usage("not a percentage or n/t");
  }
  try {
    checkSelection(selection);
  } catch (error) {
    if (error instanceof RangeError) throw usage(error.message);
    throw error;
  }
  return selection;
}

function selectionOf(options: CheckCommandOptions): ReadDataSelection {
  if (options.readData === true && options.readDataSubset !== undefined)
    throw new BlindsyncError(
      "usage",
      "Give either --read-data or --read-data-subset, not both",
    );
  if (options.readData === true) return "all";
  if (options.readDataSubset !== undefined)
    return parseReadDataSubset(options.readDataSubset);
  return "none";
}

const blobWords: Partial<Record<CheckProblem["kind"], string>> = {
  "missing-blob": "missing",
  "damaged-blob": "damaged",
  "damaged-tree": "damaged",
};

function shownPath(path: Uint8Array): string {
  return path.length === 0 ? "/" : displayPath(path);
}

/** One line per problem: what, which id, why, which paths and which snapshots. */
export function formatProblem(problem: CheckProblem): string {
  const word = blobWords[problem.kind];
  const parts = [
    problem.blobKind !== undefined && word !== undefined
      ? `${word} ${problem.blobKind} blob ${problem.id.slice(0, 8)}: ${problem.reason}`
      : problem.kind === "file-hash-mismatch"
        ? `file content mismatch: ${problem.reason}`
        : problem.reason,
  ];
  if (problem.paths.length > 0) {
    const more = problem.morePaths > 0 ? ` and ${problem.morePaths} more` : "";
    const noun = problem.blobKind === "tree" ? "directories" : "files";
    parts.push(`${noun}: ${problem.paths.map(shownPath).join(", ")}${more}`);
  }
  if (problem.snapshots.length > 0) {
    const more =
      problem.moreSnapshots > 0 ? ` and ${problem.moreSnapshots} more` : "";
    parts.push(`snapshots: ${problem.snapshots.join(", ")}${more}`);
  }
  return parts.join("; ");
}

function problemJson(problem: CheckProblem): Record<string, unknown> {
  return {
    type: "problem",
    kind: problem.kind,
    severity: problem.severity,
    id: problem.id,
    ...(problem.blobKind === undefined ? {} : { blobKind: problem.blobKind }),
    reason: problem.reason,
    paths: problem.paths.map(shownPath),
    morePaths: problem.morePaths,
    snapshots: problem.snapshots,
    moreSnapshots: problem.moreSnapshots,
  };
}

/** The pack store's part of the summary: packs re-hashed, and packs an interrupted backup left. */
function storageLine(report: CheckReport): string {
  const storage = report.storage;
  if (storage === undefined) return "";
  const parts: string[] = [];
  if (storage.packsRead > 0)
    parts.push(
      `re-hashed ${plural(storage.packsRead, "pack")} (${formatBytes(storage.packBytesRead)})`,
    );
  if (storage.unindexedPacks > 0)
    parts.push(
      `${plural(storage.unindexedPacks, "pack")} no index segment named (an interrupted backup, or a segment storage lost), read through their trailers`,
    );
  return parts.length === 0 ? "" : `, ${parts.join(", ")}`;
}

export async function runCheck(
  context: CommandContext,
  options: CheckCommandOptions,
): Promise<CheckReport> {
  const readData = selectionOf(options);
  const { output } = context;
  const startedAt = Date.now();
  const report = await withRepository(
    context,
    options.repository,
    ({ repo, snapshots }) =>
      checkRepository({
        repo,
        snapshots,
        readData,
        sink: {
          progress(progress) {
            const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
            const packs =
              progress.packsRead > 0
                ? ` ${plural(progress.packsRead, "pack")}`
                : "";
            const read =
              readData === "none"
                ? ""
                : `  read${packs} ${progress.blobsRead} blobs ${formatBytes(progress.bytesRead)} (${formatBytes(progress.bytesRead / seconds)}/s)`;
            const verb =
              progress.phase === "naming"
                ? "Naming affected files:"
                : "Checked";
            output.status(
              `${verb} ${progress.trees} trees  ${progress.dataBlobs} data blobs${read}  ${plural(progress.problems, "problem")}`,
            );
          },
          problem(problem) {
            if (output.json) output.jsonLine(problemJson(problem));
            else if (problem.severity === "warning")
              output.warn(formatProblem(problem));
            else if (output.quiet) output.warn(formatProblem(problem));
            else output.line(formatProblem(problem));
          },
        },
      }),
  );
  output.endStatus();
  const summary =
    report.errors === 0
      ? "no problems found"
      : `${plural(report.errors, "problem")} found`;
  if (output.json) {
    output.jsonLine({
      type: "summary",
      snapshots: report.snapshots,
      trees: report.trees,
      dataBlobs: report.dataBlobs,
      blobsRead: report.blobsRead,
      bytesRead: report.bytesRead,
      filesVerified: report.filesVerified,
      errors: report.errors,
      warnings: report.warnings,
      chainGaps: report.chainGaps,
      ...(report.storage === undefined ? {} : { storage: report.storage }),
    });
  } else {
    const read =
      readData === "none"
        ? "data blobs checked for presence only (--read-data also decrypts and verifies them)"
        : `read ${plural(report.blobsRead, "data blob")} (${formatBytes(report.bytesRead)}), verified ${plural(report.filesVerified, "file")} end to end`;
    const warnings =
      report.warnings > 0 ? `, ${plural(report.warnings, "warning")}` : "";
    output.line(
      `Checked ${plural(report.snapshots, "snapshot")}, ${plural(report.trees, "tree")}, ${plural(report.dataBlobs, "data blob")}${storageLine(report)}; ${read}: ${summary}${warnings}`,
    );
  }
  if (report.errors > 0) {
    throw new BlindsyncError("integrity", summary, {
      hint: "The lines above name each damaged or missing blob and the files and snapshots it affects (and each record `blindsync repair` would remove)",
    });
  }
  return report;
}

export function checkCommand(): Command {
  return new Command("check")
    .description(
      "verify that every snapshot is complete and, with --read-data, that the data is intact",
    )
    .argument("<repo>", "the repository")
    .option(
      "--read-data",
      "also read, decrypt and verify every data blob, and every file's checksum",
    )
    .option(
      "--read-data-subset <subset>",
      'read only a deterministic subset: "N%" of the blobs, or part "n/t" (run 1/t ... t/t to cover all)',
    )
    .addHelpText(
      "after",
      `
Without --read-data, check loads and authenticates every tree of every snapshot, asks the
store (in batches) whether every data blob a file needs is present, and checks the head chain.
With --read-data it also downloads and decrypts every data blob (its id must equal the keyed
hash of its plaintext) and verifies each file's recorded checksum (a keyed hash over its
chunk ids, or its SHA-256 in snapshots older than tree format 3), streaming blob by blob.

Each problem is printed on its own line, naming the blob and the files and snapshots it
affects (with --json: one object per line, then a summary). Snapshot blobs that do not
authenticate under the repository's keys and key slots that are not key slots at all (what a
connection without the passphrase can add) are named too; \`blindsync repair\` removes them.
Snapshots the head chain leaves out (a sequence number no run of backups writes) are named as
errors too: they authenticate, so someone holding the keys wrote them; every other command
passes them by with a warning. The gaps forget leaves in the head chain are normal and not reported; a missing newest snapshot is
refused when the repository is opened (14).

On a pack repository (sftp:, s3:, a pack directory) check also names the index segments and
packs its index refused (they do not authenticate: none of their entries is believed), and
with --read-data (or a subset, chosen by pack name) reads each pack whole and checks its
SHA-256 against its name, its MACed trailer, and that the index agrees with it; every index
segment is re-read and re-hashed too. --json's summary counts them under "storage".

Exit codes: 0 no problems, 13 problems found.

Examples:
  blindsync check /mnt/usb/vault
  blindsync check --read-data me@host:vault
  blindsync check --read-data-subset 10% me@host:vault
  blindsync check --read-data-subset 2/7 me@host:vault     # one seventh a day
  blindsync check --read-data sftp://me@storagebox:23/backups   # packs re-hashed too`,
    )
    .action(
      async (
        repository: string,
        flags: { readData?: boolean; readDataSubset?: string },
        command: Command,
      ) => {
        await runCheck(contextOf(command), {
          repository,
          ...(flags.readData === true ? { readData: true } : {}),
          ...(flags.readDataSubset === undefined
            ? {}
            : { readDataSubset: flags.readDataSubset }),
        });
      },
    );
}
