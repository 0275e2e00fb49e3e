/**
 * Runs the built `blindsync` executable as a user would, with a test passphrase, a private
 * cache directory and a low (but in-bounds) KDF cost.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = `${PROJECT_ROOT}dist/cli/main.js`;
export const TEST_PASSWORD = "correct horse battery staple";

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

export function runCli(
  args: readonly string[],
  options: CliOptions,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = {
      ...process.env,
      BLINDSYNC_PASSWORD: TEST_PASSWORD,
      BLINDSYNC_CACHE_DIR: options.cacheDir,
      BLINDSYNC_KDF_LOGN: "15",
      ...options.env,
    };
    const definedEnv: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(env).filter(([, value]) => value !== undefined),
    );
    const child = spawn(process.execPath, [CLI, ...args], {
      env: definedEnv,
      cwd: options.cwd ?? PROJECT_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (data: Buffer) => out.push(data));
    child.stderr.on("data", (data: Buffer) => err.push(data));
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code: code ?? -1,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        stdoutBytes,
      });
    });
    child.stdin.end(options.input ?? "");
  });
}
