#!/usr/bin/env node
// Runs a transport command with what the client sends held to a fixed rate:
// `slow-pipe.js BYTES_PER_SECOND COMMAND ARGS...`, e.g. in front of the real ssh of the test
// sshd, so an sftp backup's upload lasts seconds whatever the machine's speed. Unlike
// slow-ssh.js it runs COMMAND itself (the real ssh, with every argument the client gave), not a
// remote command on this machine. What the server answers passes at once.
import { spawn } from "node:child_process";
import process from "node:process";
import { setTimeout } from "node:timers";

const [rateText, command, ...args] = process.argv.slice(2);
const rate = Number(rateText);
const child = spawn(command, args, { stdio: ["pipe", "inherit", "inherit"] });
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
  process.exitCode = code ?? (signal ? 255 : 0);
  process.stdin.destroy();
});
