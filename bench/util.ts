/** Small process and formatting helpers shared by the benchmark modules. */
import { spawn, spawnSync } from "node:child_process";

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
}

/** Runs a command to completion, capturing its output; never throws for a non-zero exit. */
export function run(
  argv: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("empty command");
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (data: Buffer) => out.push(data));
    child.stderr.on("data", (data: Buffer) => err.push(data));
    child.on("error", (error) => {
      resolve({ code: 127, stdout: "", stderr: error.message });
    });
    child.on("close", (code, signal) => {
      resolve({
        code: code ?? (signal === null ? -1 : 128),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr:
          Buffer.concat(err).toString("utf8") +
          (signal === null ? "" : `\n(killed by ${signal})`),
      });
    });
    // A command that exits without reading its input must not crash the benchmark (EPIPE).
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** Runs a command and throws with its stderr when it fails. */
export async function runOk(
  argv: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await run(argv, options);
  if (result.code !== 0)
    throw new Error(
      `${argv.join(" ")} exited with ${result.code}: ${tail(result.stderr, 10)}`,
    );
  return result.stdout;
}

/** Synchronous variant for clean-up paths (signal handlers, exit). */
export function runSync(argv: readonly string[]): RunResult {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("empty command");
  const result = spawnSync(file, args, { encoding: "utf8" });
  return {
    code: result.status ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

export function which(name: string): string | undefined {
  const result = runSync(["sh", "-c", `command -v ${name}`]);
  const path = result.stdout.trim();
  return result.code === 0 && path !== "" ? path : undefined;
}

/** The last `lines` non-empty lines of `text`, joined by " | ". */
export function tail(text: string, lines: number): string {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .slice(-lines)
    .join(" | ");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Quotes one word for a POSIX shell (for the ssh command lines handed to the tools). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function log(message: string): void {
  const time = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${time}] ${message}\n`);
}

export const MiB = 1024 * 1024;
