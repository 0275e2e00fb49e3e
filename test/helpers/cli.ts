/**
 * Runs the built `blindsync` executable as a user would, with a test passphrase, a private
 * cache directory and a low (but in-bounds) KDF cost; and reads what it printed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { TEST_KDF_LOGN, TEST_PASSWORD } from "./constants.js";

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = `${PROJECT_ROOT}dist/cli/main.js`;

/**
 * A module of the built dist/, for tests whose code must run as built (worker threads load
 * their compiled files), typed by the caller.
 */
export async function fromDist<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(`${PROJECT_ROOT}dist/${path}`).href)) as T;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: Buffer;
}

export interface CliOptions {
  readonly env?: Record<string, string | undefined>;
  readonly cacheDir: string;
  readonly input?: string;
  readonly cwd?: string;
}

/** The CLI's environment: the test passphrase, cache and KDF cost, then `options.env` (undefined removes). */
export function cliEnv(options: CliOptions): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    ...process.env,
    BLINDSYNC_PASSWORD: TEST_PASSWORD,
    BLINDSYNC_CACHE_DIR: options.cacheDir,
    BLINDSYNC_KDF_LOGN: TEST_KDF_LOGN,
    ...options.env,
  };
  return Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined),
  );
}

function collect(
  child: ChildProcess,
): Promise<CliResult & { readonly signal: NodeJS.Signals | null }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (data: Buffer) => out.push(data));
  child.stderr?.on("data", (data: Buffer) => err.push(data));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code: code ?? -1,
        signal,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        stdoutBytes,
      });
    });
  });
}

export function runCli(
  args: readonly string[],
  options: CliOptions,
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cliEnv(options),
    cwd: options.cwd ?? PROJECT_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const done = collect(child);
  child.stdin.end(options.input ?? "");
  return done;
}

export interface KillableCli {
  readonly child: ChildProcess;
  /** Resolves when the process has exited and its pipes are closed. */
  readonly done: Promise<CliResult & { readonly signal: string | null }>;
  /** True once `done` has resolved. */
  exited(): boolean;
}

/** Spawns the built CLI exactly as runCli does (same environment), but hands back the child. */
export function spawnCli(
  args: readonly string[],
  options: Omit<CliOptions, "input">,
): KillableCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cliEnv(options),
    cwd: options.cwd ?? PROJECT_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const done = collect(child);
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  return { child, done, exited: () => finished };
}

/** True when a CLI's stderr is a clean failure: no stack trace, no "unexpected error". */
export function isCleanError(stderr: string): boolean {
  return (
    stderr.trim().length > 0 &&
    !/^\s+at /m.test(stderr) &&
    !/unexpected error/.test(stderr)
  );
}

export interface JsonProblem {
  readonly type: "problem";
  readonly kind: string;
  readonly severity: "error" | "warning";
  readonly id: string;
  readonly blobKind?: string;
  readonly reason: string;
  readonly paths: string[];
  readonly morePaths: number;
  readonly snapshots: string[];
}

/** The problem objects of `blindsync --json check` output (the summary left out). */
export function jsonProblems(stdout: string): JsonProblem[] {
  return stdout
    .trim()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { type: string })
    .filter((object): object is JsonProblem => object.type === "problem");
}

/** The last line of `blindsync --json` output, the summary, as an object. */
export function jsonSummary(stdout: string): Record<string, unknown> {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  const summary = JSON.parse(last) as Record<string, unknown>;
  if (summary.type !== "summary")
    throw new Error(`the last line is not a summary: ${last}`);
  return summary;
}
