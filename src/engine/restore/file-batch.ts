/**
 * Small files, already verified, written in batches by the native addon on a thread of the
 * libuv pool (native/writefiles.c): one call per batch instead of five or more synchronous
 * system calls per file on the main thread, which also decrypts and hashes. With a local
 * repository the second core otherwise idles while the main thread spends most of each small
 * file inside open, write, close and rename (docs/performance.md, "Restore of many small
 * files").
 *
 * The addon does what SmallFileWriter does without it: creates the file's temporary name with
 * O_CREAT|O_EXCL|O_NOFOLLOW, writes it, sets owner, mode and times, closes it and renames it
 * onto the real name, and unlinks the temporary name again when any step fails. Without the
 * addon (or with a build of it that predates writeFiles) SmallFileWriter runs those steps.
 */
import { getSystemErrorMap } from "node:util";
import { native } from "../../util/native.js";

/** One file of a batch: its verified content and the metadata to give it. */
export interface BatchedFile {
  /** The temporary name to create (Target.tempPath), renamed onto `path` once complete. */
  readonly temp: Buffer;
  readonly path: Buffer;
  /** The bytes to write; fewer than `size` when the file ends in a hole (ftruncate). */
  readonly content: Uint8Array;
  readonly size: number;
  /** The mode to create it with (before the umask). */
  readonly openMode: number;
  /** The mode to fchmod afterwards, or -1 when `openMode` already is it. */
  readonly chmodMode: number;
  /** Owner to fchown to, or -1 each to leave it as created. */
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
}

/** Files per call: enough to amortize the call, few enough that a batch is soon done. */
const BATCH_FILES = 32;
const INTS_PER_FILE = 5;
const NS_PER_SECOND = 1_000_000_000n;

const writeFiles = native?.writeFiles;

interface Waiting {
  readonly file: BatchedFile;
  readonly done: (failure: Error | undefined) => void;
}

export class FileBatcher {
  private waiting: Waiting[] = [];
  private flushScheduled = false;

  private constructor(private readonly fsync: boolean) {}

  /** A batcher, or undefined when the addon cannot write files. */
  static create(fsync: boolean): FileBatcher | undefined {
    return writeFiles === undefined ? undefined : new FileBatcher(fsync);
  }

  /**
   * Writes `file` with the next batch: resolves with undefined once it is renamed into place,
   * or with the error that stopped it (its temporary name then no longer exists).
   */
  write(file: BatchedFile): Promise<Error | undefined> {
    return new Promise((done) => {
      this.waiting.push({ file, done });
      if (this.waiting.length >= BATCH_FILES) {
        this.flush();
      } else if (!this.flushScheduled) {
        // The files verified in this turn of the event loop go together.
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    const batch = this.waiting;
    if (batch.length === 0 || writeFiles === undefined) return;
    this.waiting = [];
    const ints = new Int32Array(batch.length * INTS_PER_FILE);
    const seconds = new BigInt64Array(batch.length);
    const sizes = new Float64Array(batch.length);
    batch.forEach(({ file }, index) => {
      let whole = file.mtimeNs / NS_PER_SECOND;
      let nanoseconds = file.mtimeNs % NS_PER_SECOND;
      if (nanoseconds < 0n) {
        whole -= 1n;
        nanoseconds += NS_PER_SECOND;
      }
      ints.set(
        [
          file.openMode,
          file.chmodMode,
          file.uid,
          file.gid,
          Number(nanoseconds),
        ],
        index * INTS_PER_FILE,
      );
      seconds[index] = whole;
      sizes[index] = file.size;
    });
    const fail = (error: unknown): void => {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const { done } of batch) done(failure);
    };
    let written: Promise<Int32Array>;
    try {
      written = writeFiles(
        batch.map(({ file }) => file.temp),
        batch.map(({ file }) => file.path),
        batch.map(({ file }) => file.content),
        ints,
        seconds,
        sizes,
        this.fsync,
      );
    } catch (error) {
      // Bad arguments (an addon built for another signature): each file fails, named.
      fail(error);
      return;
    }
    void written.then((errors) => {
      batch.forEach(({ done }, index) => {
        const errno = errors[index] ?? 0;
        done(errno === 0 ? undefined : errnoError(errno));
      });
    }, fail);
  }
}

/** An Error as Node's own fs calls make them: "ENOSPC: no space left on device", with .code. */
function errnoError(errno: number): Error {
  const [code, message] = getSystemErrorMap().get(-errno) ?? [
    `E${errno}`,
    "unknown error",
  ];
  return Object.assign(new Error(`${code}: ${message}`), { code, errno });
}
