#!/usr/bin/env node
// Counts the bytes a transport command moves, from outside the tool: used as the ssh command
// (`count-bytes.js LOGFILE ssh ARGS...`), it runs the real command with piped stdio and, when it
// exits, appends "sent received" (client to server, server to client) to LOGFILE.
import { spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import process from "node:process";

const [logFile, command, ...args] = process.argv.slice(2);
let sent = 0;
let received = 0;
const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
process.stdin.on("data", (data) => {
  sent += data.length;
  child.stdin.write(data);
});
process.stdin.on("end", () => child.stdin.end());
child.stdout.on("data", (data) => {
  received += data.length;
  process.stdout.write(data);
});
child.on("close", (code, signal) => {
  appendFileSync(logFile, `${sent} ${received}\n`);
  process.exitCode = code ?? (signal ? 1 : 0);
  process.stdin.destroy();
});
