/**
 * Whether this machine's CPU has AES instructions (AES-NI on x86-64, the crypto extension on
 * arm64). It decides which cipher blindsync asks ssh for (store/remote/ssh-ciphers.ts): with
 * them, AES-GCM costs about half of chacha20-poly1305's CPU; without them (a Raspberry Pi 4,
 * say), several times more.
 *
 * Shared leaf: imports nothing from any layer.
 */
import { readFileSync } from "node:fs";

/**
 * The answer from the text of /proc/cpuinfo: x86 lists "aes" among a core's `flags`, arm64
 * among its `Features`. Every core must have it (a machine may mix cores).
 */
export function cpuinfoHasAes(cpuinfo: string): boolean {
  const featureLines = cpuinfo
    .split("\n")
    .filter((line) => /^(flags|Features)\s*:/.test(line));
  return (
    featureLines.length > 0 &&
    featureLines.every((line) =>
      /(^|\s)aes(\s|$)/.test(line.slice(line.indexOf(":") + 1)),
    )
  );
}

let cached: boolean | undefined;

/**
 * This machine's answer, read once. Linux reads /proc/cpuinfo; every Mac blindsync runs on
 * (Intel since 2010, Apple silicon) has AES instructions; anything else is assumed not to, so
 * ssh keeps its own defaults there.
 */
export function cpuHasAes(): boolean {
  if (cached !== undefined) return cached;
  if (process.platform === "darwin") cached = true;
  else if (process.platform === "linux") {
    try {
      cached = cpuinfoHasAes(readFileSync("/proc/cpuinfo", "latin1"));
    } catch {
      cached = false;
    }
  } else cached = false;
  return cached;
}
