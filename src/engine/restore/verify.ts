/**
 * `--verify`: once every file is written, each is read back from the target and compared with
 * the size and SHA-256 the snapshot records, so what the disk holds now (not what restore meant
 * to write) is checked. It runs before symlinks exist and before directory modes are applied,
 * so no snapshot symlink can redirect a read and a read-only directory can still be opened.
 * A file that differs is a damaged entry (exit 13), named in the warning.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  openSync,
  readSync,
} from "node:fs";
import { describeError } from "../../errors.js";
import type { FileEntry } from "../../repo/index.js";
import { asBuffer } from "./fs-ops.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";

const READ_BLOCK = 1024 * 1024;
const READ_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

interface Written {
  readonly path: Buffer;
  readonly size: number;
  readonly sha256: Buffer;
}

export class Verifier {
  /** Only what the check needs, not the entry with its list of blob ids. */
  private readonly written: Written[] = [];

  constructor(
    private readonly target: Target,
    private readonly tally: Tally,
  ) {}

  /** A file just renamed into place at `path`. */
  add(path: Buffer, entry: FileEntry): void {
    this.written.push({
      path,
      size: entry.size,
      sha256: asBuffer(entry.sha256),
    });
  }

  /** Reads back every file added; counts each match in `verified`, warns each difference. */
  run(): void {
    const buffer = Buffer.allocUnsafe(READ_BLOCK);
    for (const file of this.written.splice(0)) {
      let problem: string | undefined;
      try {
        problem = differenceOf(file, buffer);
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
function differenceOf(file: Written, buffer: Buffer): string | undefined {
  const fd = openSync(file.path, READ_FLAGS);
  try {
    if (!fstatSync(fd).isFile()) return "it is no longer a regular file";
    const hash = createHash("sha256");
    let total = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total !== file.size)
      return `it holds ${total} bytes where the snapshot records ${file.size}`;
    if (!hash.digest().equals(file.sha256))
      return "its content differs from the snapshot's (SHA-256 mismatch)";
    return undefined;
  } finally {
    closeSync(fd);
  }
}
