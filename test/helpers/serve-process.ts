/**
 * Runs the real `blindsync serve` executable (bin/blindsync.js over the dist/ that the global
 * setup builds), so process-level tests exercise exactly what ssh runs on a server.
 */

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const projectRoot = fileURLToPath(new URL("../..", import.meta.url));
export const blindsyncBin = `${projectRoot}bin/blindsync.js`;

/** The words that run blindsync: node and the launcher, both absolute. */
export function blindsyncCommand(): [string, string] {
  if (!existsSync(`${projectRoot}dist/cli/main.js`))
    throw new Error(
      "dist/cli/main.js is missing: run `npm run build` (the vitest global setup does it)",
    );
  return [process.execPath, blindsyncBin];
}

/** The same command as one string for a remote shell (paths here hold no spaces or quotes). */
export function blindsyncShellCommand(): string {
  return blindsyncCommand().join(" ");
}

/** Spawns `blindsync serve ...args`, with stderr collected for assertions. */
export function spawnServe(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { child: ChildProcessWithoutNullStreams; stderr: () => string } {
  const [node, bin] = blindsyncCommand();
  const child = spawn(node, [bin, "serve", ...args], {
    cwd: options.cwd ?? projectRoot,
    env: options.env ?? process.env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    stderr += text;
  });
  child.stdin.on("error", () => undefined);
  return { child, stderr: () => stderr };
}

/** Resolves with the exit code once the process has exited. */
export function exitOf(
  child: ChildProcessWithoutNullStreams,
): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      resolve(code);
    }),
  );
}
