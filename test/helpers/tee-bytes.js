#!/usr/bin/env node
// Records every byte a transport command moves (both directions, appended to CAPTURE), so a
// test can search the wire for plaintext: `tee-bytes.js CAPTURE ssh ARGS...`.
import { spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import process from "node:process";

const [capture, command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
process.stdin.on("data", (data) => {
  appendFileSync(capture, data);
  child.stdin.write(data);
});
process.stdin.on("end", () => child.stdin.end());
child.stdout.on("data", (data) => {
  appendFileSync(capture, data);
  process.stdout.write(data);
});
child.on("close", (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
  process.stdin.destroy();
});
