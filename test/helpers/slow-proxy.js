#!/usr/bin/env node
// A TCP proxy on 127.0.0.1 that holds what clients send to a fixed rate, shared by all its
// connections: `slow-proxy.js BYTES_PER_SECOND TARGET_PORT` listens on a free port, prints
// {"port": N} on one line, forwards each connection to 127.0.0.1:TARGET_PORT, and exits when
// its stdin closes (so it never outlives the test process). Put in front of s3rver, it makes an
// S3 backup's upload last seconds whatever the machine's speed; answers pass at once.
import { connect, createServer } from "node:net";
import process from "node:process";
import { setTimeout } from "node:timers";

const [rateText, targetText] = process.argv.slice(2);
const rate = Number(rateText);
const target = Number(targetText);
// When the bytes sent so far, over every connection, are due at this rate.
let due = Date.now();

const server = createServer((client) => {
  const upstream = connect(target, "127.0.0.1");
  client.on("data", (data) => {
    upstream.write(data);
    due = Math.max(due, Date.now()) + (data.length / rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) {
      client.pause();
      setTimeout(() => client.resume(), wait);
    }
  });
  client.on("end", () => upstream.end());
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
  client.on("close", close);
  upstream.on("close", close);
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
