/**
 * The blindsync executable's entry point, and the only place that exits the process.
 */
import { main } from "./program.js";

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Exit at once unless stdout still holds data (`cat` piped to a slow reader must not be cut
// short); with data pending, the event loop drains it and ends by itself.
if (process.stdout.writableLength === 0) process.exit(code);
