/**
 * The blindsync executable's entry point, and the only place that exits the process.
 */
import { tuneAllocator } from "../util/allocator.js";

// Before the first large buffer: both the client and `serve` churn through them.
tuneAllocator();
const args = process.argv.slice(2);
// `serve` runs once per ssh connection: it loads only what a server needs.
const { main } =
  args[0] === "serve"
    ? await import("./serve-entry.js")
    : await import("./program.js");
const code = await main(args);
process.exitCode = code;
// Exit at once unless stdout still holds data (`cat` piped to a slow reader must not be cut
// short); with data pending, the event loop drains it and ends by itself.
if (process.stdout.writableLength === 0) process.exit(code);
