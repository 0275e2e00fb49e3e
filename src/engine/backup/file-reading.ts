/**
 * How the backup opens and reads a file's bytes, shared by the main thread and the workers
 * that re-chunk changed files (seal-worker.ts).
 */
import { constants as fsConstants } from "node:fs";

/** One read's size: large enough for few system calls, small enough to keep in flight. */
export const READ_SIZE = 1024 * 1024;

/**
 * lstat() said "regular file": a symlink or a FIFO swapped in since then is refused (ELOOP) or
 * opened without blocking, so a synchronous open can never hang the walk.
 */
export const OPEN_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;
