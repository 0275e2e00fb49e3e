/**
 * Creating a named pipe, which Node cannot do itself: the native addon's mkfifo(3), else the
 * system's mkfifo command (coreutils), which can only be handed a path that is valid UTF-8.
 *
 * Shared leaf: imports nothing from any layer.
 */
import { execFileSync } from "node:child_process";
import { native } from "./native.js";

/** Creates a fifo at `path` with `mode` (before the umask); throws as mkfifo(3) would. */
export function makeFifoSync(path: Buffer, mode: number): void {
  if (native?.makeFifo !== undefined) {
    native.makeFifo(path, mode);
    return;
  }
  const text = path.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(path))
    throw new Error(
      "cannot create a fifo at a path that is not UTF-8 without the native addon",
    );
  execFileSync("mkfifo", ["-m", mode.toString(8), "--", text], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}
