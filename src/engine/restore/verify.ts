/**
 * `--verify`: once every file is written, each is read back from the target and compared with
 * the size and whole-file checksum the snapshot records (a checksum over chunk ids is checked
 * by cutting the file where restore wrote each chunk and recomputing the chunks' ids), so what the disk holds now (not what restore meant
 * to write) is checked. It runs before symlinks exist and before directory modes are applied,
 * so no snapshot symlink can redirect a read and a read-only directory can still be opened.
 * A file that differs is a damaged entry (exit 13), named in the warning.
 */
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  openSync,
  readSync,
} from "node:fs";
import { describeError } from "../../errors.js";
import {
  settledChecksum,
  type FileChecksum,
  type FileEntry,
} from "../../repo/index.js";
import {
  checksumName,
  DiskContentCheck,
  type ChunkingRepository,
} from "../content-check.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";

const READ_BLOCK = 1024 * 1024;
const READ_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

interface Written {
  readonly path: Buffer;
  readonly size: number;
  readonly checksum: FileChecksum;
  /** The chunks' lengths as written; only a checksum over chunk ids needs them. */
  readonly lengths: readonly number[] | undefined;
}

export class Verifier {
  /** Only what the check needs, not the entry with its list of blob ids. */
  private readonly written: Written[] = [];

  constructor(
    private readonly repo: ChunkingRepository,
    private readonly target: Target,
    private readonly tally: Tally,
  ) {}

  /** A file just renamed into place at `path`, written as chunks of `lengths`. */
  add(path: Buffer, entry: FileEntry, lengths: readonly number[]): void {
    this.written.push({
      path,
      size: entry.size,
      // A derived checksum would keep the entry's ids alive until the read-back.
      checksum: settledChecksum(entry.checksum),
      lengths: entry.checksum.kind === "sha256" ? undefined : lengths,
    });
  }

  /** Reads back every file added; counts each match in `verified`, warns each difference. */
  run(): void {
    const buffer = Buffer.allocUnsafe(READ_BLOCK);
    for (const file of this.written.splice(0)) {
      let problem: string | undefined;
      try {
        problem = differenceOf(this.repo, file, buffer);
      } catch (error) {
        problem = `it cannot be read back (${describeError(error)})`;
      }
      if (problem === undefined) this.tally.result.verified++;
      else
        this.tally.damaged(
          `Verification failed for "${this.target.show(file.path)}": ${problem}`,
        );
    }
  }
}

/** Why the file on disk is not the snapshot's, or undefined when it is. */
function differenceOf(
  repo: ChunkingRepository,
  file: Written,
  buffer: Buffer,
): string | undefined {
  const fd = openSync(file.path, READ_FLAGS);
  try {
    if (!fstatSync(fd).isFile()) return "it is no longer a regular file";
    const check = new DiskContentCheck(repo, file, file.lengths);
    let total = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      check.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total !== file.size)
      return `it holds ${total} bytes where the snapshot records ${file.size}`;
    if (!check.matches())
      return `its content differs from the snapshot's (${checksumName(file.checksum)} mismatch)`;
    return undefined;
  } finally {
    closeSync(fd);
  }
}
