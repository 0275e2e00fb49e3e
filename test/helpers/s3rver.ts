/**
 * s3rver, a stand-in for S3 (AWS, MinIO, Ceph RGW cannot run here), on 127.0.0.1 on a free port,
 * with one bucket, its objects in a temporary directory.
 *
 * It runs in a child process (s3rver-process.js) because s3rver 3 needs
 * NODE_OPTIONS=--openssl-legacy-provider on Node 20, or its ListObjectsV2 answers 500; the test
 * process keeps Node's defaults. The child exits when its stdin closes, so it dies with the test
 * process even on a crash; stop() and an exit hook kill it sooner.
 *
 * What s3rver tolerates and S3 does not (ignored If-None-Match and checksums, a listing in key
 * order) must never be relied on by the code under test.
 */

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The only credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: "S3RVER",
  AWS_SECRET_ACCESS_KEY: "S3RVER",
} as const;

export interface S3rver {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  /** A bucket that exists from the start. */
  readonly bucket: string;
  /**
   * The environment the SDK reads (credentials, region, AWS_ENDPOINT_URL), to merge into
   * process.env for a child or an in-process store.
   */
  readonly env: Readonly<Record<string, string>>;
  /** The temporary directory holding s3rver's objects. */
  readonly dir: string;
  /** Stops s3rver (SIGKILL: as abrupt as a crashed server) and removes its directory. */
  stop(): Promise<void>;
}

const script = fileURLToPath(new URL("./s3rver-process.js", import.meta.url));
const running = new Set<ChildProcessWithoutNullStreams>();

process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function startS3rver(bucket = "blindsync-test"): Promise<S3rver> {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-s3rver-"));
  const child = spawn(process.execPath, [script, dir, bucket], {
    env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      running.delete(child);
      resolve();
    });
  });
  let port: number;
  try {
    port = await portOf(child);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    dir,
    env: {
      ...S3RVER_CREDENTIALS,
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL: endpoint,
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null)
        child.kill("SIGKILL");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The port the child prints on its first line; its stderr in the error if it dies first. */
function portOf(child: ChildProcessWithoutNullStreams): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => {
      reject(new Error(`s3rver did not start within 30 s: ${stderr}`));
    }, 30_000);
    child.stdout.on("data", (text: string) => {
      stdout += text;
      const line = stdout.split("\n")[0];
      if (line === undefined || !stdout.includes("\n")) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `s3rver exited before it listened (${code ?? signal}): ${stderr}`,
        ),
      );
    });
  });
}
