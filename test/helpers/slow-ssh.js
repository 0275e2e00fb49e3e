#!/usr/bin/env node
// A stand-in for ssh that runs the remote command on this machine with what the client sends
// held to BYTES_PER_SECOND: `slow-ssh.js BYTES_PER_SECOND HOST REMOTE_COMMAND`. A backup's
// upload then takes seconds whatever the machine's speed, a real way to keep a backup (and its
// hold on the client cache) running while a test does other things beside it. Small requests
// (listing, restoring) pass through at once.
import { spawn } from "node:child_process";
import process from "node:process";
import { setTimeout } from "node:timers";

const [rateText, , remote] = process.argv.slice(2);
const rate = Number(rateText);
const child = spawn("/bin/sh", ["-c", remote], {
  stdio: ["pipe", "inherit", "inherit"],
});
// When the bytes sent so far are due at this rate; idle time is not saved up for a burst.
let due = Date.now();
process.stdin.on("data", (data) => {
  child.stdin.write(data);
  due = Math.max(due, Date.now()) + (data.length / rate) * 1000;
  const wait = due - Date.now();
  if (wait > 0) {
    process.stdin.pause();
    setTimeout(() => process.stdin.resume(), wait);
  }
});
process.stdin.on("end", () => child.stdin.end());
child.stdin.on("error", () => undefined);
child.on("close", (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
  process.stdin.destroy();
});
