/**
 * `backup --stdin`: a stream (a database dump, a tar) stored as one file in a snapshot of its
 * own, as restic does. The stream is chunked like any file, so two dumps that differ a little
 * share most of their chunks; the file is the snapshot root's only entry, under the name the
 * user gave (default "stdin"). An empty stream is stored as an empty file; whether the program
 * that wrote the stream succeeded is for the caller's shell to say (set -o pipefail), since
 * blindsync only sees where the bytes end.
 */
import { BlindsyncError, describeError } from "../../errors.js";
import { isSafeName, type FileEntry } from "../../repo/index.js";
import { systemOwnerNames } from "../owner-names.js";
import { StoreFailure, type FileSaver } from "./file-saver.js";
import type { WalkedRoot } from "./sources.js";
import type { TreeSaver } from "./tree-saver.js";
import type { BackupSink, BackupTally } from "./types.js";

/** Progress is reported after about this many bytes of the stream, as a file's walk would. */
const PROGRESS_EVERY_BYTES = 1024 * 1024;

/** The stream as it is read, reporting progress (bytes so far, the name) along the way. */
async function* reporting(
  input: AsyncIterable<Uint8Array>,
  report: () => void,
): AsyncIterable<Uint8Array> {
  let sinceReport = 0;
  for await (const piece of input) {
    yield piece;
    sinceReport += piece.length;
    if (sinceReport >= PROGRESS_EVERY_BYTES) {
      sinceReport = 0;
      report();
    }
  }
}

/** The name a stream is stored under when none is given. */
export const DEFAULT_STDIN_NAME = "stdin";

/**
 * Owner-only: a dump of a database is as private as the database, and restore applies the
 * stored mode as it is, whatever the restoring user's umask.
 */
const STDIN_FILE_MODE = 0o600;

export interface StdinSource {
  /** One file name: no "/", not "." or "..", not empty. */
  readonly name: string;
  readonly input: AsyncIterable<Uint8Array>;
}

/** Throws a usage error unless `name` can be the snapshot's one file name. */
export function checkStdinName(name: string): void {
  if (!isSafeName(Buffer.from(name)))
    throw new BlindsyncError(
      "usage",
      `--stdin-filename "${name}" is not a file name`,
      {
        hint: 'Give one name without "/", such as --stdin-filename db.sql',
      },
    );
}

/** The snapshot path recorded for a stream: "/NAME", as restic records it. */
export function stdinSnapshotPath(name: string): string {
  return `/${name}`;
}

/**
 * Reads the stream to its end into the snapshot's root tree. A read error of the stream ends
 * the backup without a snapshot (a partial dump must not look complete); a store failure
 * surfaces as itself.
 */
export async function saveStdin(
  source: StdinSource,
  parts: {
    readonly fileSaver: FileSaver;
    readonly treeSaver: TreeSaver;
    readonly tally: BackupTally;
    readonly sink: BackupSink;
    /** The blob saver's new bytes so far, for progress. */
    readonly bytesAdded: () => number;
  },
  time: Date,
): Promise<WalkedRoot> {
  checkStdinName(source.name);
  const report = (): void => {
    const { files, dirs, bytes } = parts.tally;
    parts.sink.progress({
      files,
      dirs,
      bytes,
      bytesAdded: parts.bytesAdded(),
      current: source.name,
    });
  };
  let read: Awaited<ReturnType<FileSaver["readStream"]>>;
  try {
    read = await parts.fileSaver.readStream(reporting(source.input, report));
  } catch (error) {
    if (error instanceof StoreFailure) throw error.cause;
    throw new BlindsyncError(
      "failed",
      `Cannot read standard input: ${describeError(error)}`,
      { cause: error },
    );
  }
  parts.tally.files += 1;
  report();
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const entry: FileEntry = {
    name: new Uint8Array(Buffer.from(source.name)),
    mode: STDIN_FILE_MODE,
    // The snapshot's time: the moment the stream was taken, and repeatable with --time.
    mtimeNs: BigInt(time.getTime()) * 1_000_000n,
    uid,
    gid,
    user: systemOwnerNames.user(uid),
    group: systemOwnerNames.group(gid),
    type: "file",
    size: read.size,
    checksum: read.checksum,
    content: read.content,
  };
  return { tree: await parts.treeSaver.save([entry]), root: undefined };
}
