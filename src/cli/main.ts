/**
 * The blindsync executable's entry point, and the only place that exits the process.
 */
import { tuneAllocator } from "../util/allocator.js";
import { limitHeapGrowth } from "../util/heap-growth.js";
import { watchStream, writeQuietly } from "./output/streams.js";

// Before the first large buffer: both the client and `serve` churn through them.
tuneAllocator();
// Before the walk promotes its first garbage: the heap stays near its live data (heap-growth.ts).
limitHeapGrowth();
const args = process.argv.slice(2);
const serving = args[0] === "serve";
// `serve` runs once per ssh connection: it loads only what a server needs.
const { main } = serving
  ? await import("./serve-entry.js")
  : await import("./program.js");
// From the first byte on (help text included), a closed pipe ends output quietly instead of
// killing the process with an unhandled EPIPE (output/streams.ts). Not for `serve`: its
// stdout is the protocol, whose loss it handles itself.
const stdout = serving ? undefined : watchStream(process.stdout);
if (!serving) watchStream(process.stderr);
// Ctrl-C and SIGTERM: say so, release the repository's locks, exit 130 or 143 (interrupt.ts).
// Not for `serve`: it releases a connection's locks when the connection ends.
const interrupts = serving ? undefined : await import("./interrupt.js");
if (interrupts !== undefined)
  interrupts.watchInterrupts(
    (exitCode) => process.exit(exitCode),
    (line) => {
      // On a new line of its own, not after the status line's progress.
      const clear = process.stderr.isTTY ? "\r\x1b[2K" : "";
      writeQuietly(process.stderr, `${clear}blindsync: ${line}\n`);
    },
  );
let code = await main(args);
// The command ended while the signal's clean-up runs: that clean-up decides the exit.
const interrupted = interrupts?.interrupts.finished;
if (interrupted !== undefined) code = await interrupted;
if (stdout?.failure !== undefined && code === 0) {
  // Output that could not be written (a full disk) is a failure even when the work was not
  // (when the command failed on it, report() has said so already).
  writeQuietly(
    process.stderr,
    `blindsync: Cannot write the output: ${stdout.failure.message}\n`,
  );
  code = 1;
}
process.exitCode = code;
// Exit at once unless stdout still holds data (`cat` piped to a slow reader must not be cut
// short); with data pending, the event loop drains it and ends by itself. Data for a reader
// that has gone never drains.
if (process.stdout.writableLength === 0 || stdout?.gone === true)
  process.exit(code);
