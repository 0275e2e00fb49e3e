/**
 * The three places a pack repository lives, each started for real so that a CLI test can be
 * written once and run on all of them (describe.each over PACK_BACKENDS):
 *
 * - `dir`: a local pack directory (`init --packs DIR`);
 * - `sftp`: `sftp:127.0.0.1:NAME` through the test sshd, whose client key may run only OpenSSH's
 *   sftp-server (a forced command), so nothing of blindsync, nor node, runs on the server;
 * - `s3`: `s3:BUCKET/NAME` on s3rver in a child process, restartable on the same data.
 *
 * Each backend says where its objects land on this machine, so a test can measure what the
 * storage holds (bytes of packs/, the objects listed) without going through blindsync, and the
 * remote ones can be slowed (uploads held to a rate) and have their server side killed.
 */

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import {
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { S3RVER_CREDENTIALS } from "./s3rver.js";
import { requireSftpServer } from "./sftp-server.js";
import { startSshd, type Sshd } from "./sshd.js";

export type PackBackendKind = "dir" | "sftp" | "s3";

export const PACK_BACKENDS: readonly PackBackendKind[] = ["dir", "sftp", "s3"];

export interface PackBackend {
  readonly kind: PackBackendKind;
  /** REPO for the repository called `name` (a plain name: letters, digits, dashes). */
  location(name: string): string;
  /**
   * The URL forms of `location(name)`, each naming the same repository
   * (`sftp://[user@]host[:port]/path`, `s3://bucket/prefix`); none for `dir`.
   */
  urlForms(name: string): string[];
  /** The arguments of `blindsync init` for it. */
  initArgs(name: string): string[];
  /** What the CLI's environment needs to reach the backend. */
  env(): Record<string, string>;
  /**
   * An environment whose uploads are held to `bytesPerSecond` (undefined for `dir`, which has
   * no transport to slow).
   */
  slowEnv(bytesPerSecond: number): Promise<Record<string, string> | undefined>;
  /** The objects of repository `name` whose names start with `prefix`, as stored, sorted. */
  objects(name: string, prefix?: string): string[];
  /** The bytes those objects take in storage. */
  storedBytes(name: string, prefix?: string): number;
  /**
   * Kills the server side as abruptly as a crash (SIGKILL): the sftp-server processes of this
   * sshd, or s3rver. Undefined for `dir`.
   */
  readonly killServer?: () => Promise<void>;
  /** Brings the server side back on the same data (a new port for s3rver). */
  readonly restartServer?: () => Promise<void>;
  stop(): Promise<void>;
}

const S3RVER_SCRIPT = fileURLToPath(
  new URL("./s3rver-process.js", import.meta.url),
);
const SLOW_PIPE = fileURLToPath(new URL("./slow-pipe.js", import.meta.url));
const SLOW_PROXY = fileURLToPath(new URL("./slow-proxy.js", import.meta.url));
/** s3rver keeps each object's bytes in a file named KEY plus this suffix. */
const S3RVER_OBJECT_SUFFIX = "._S3rver_object";
/** And its metadata (headers, MD5) in a file named KEY plus this one, written after the bytes. */
const S3RVER_METADATA_SUFFIX = "._S3rver_metadata.json";

export async function startPackBackend(
  kind: PackBackendKind,
): Promise<PackBackend> {
  switch (kind) {
    case "dir":
      return startDirBackend();
    case "sftp":
      return startSftpBackend();
    case "s3":
      return startS3Backend();
  }
}

/** The object files below `dir`, by relative name; `keep` picks and renames the files. */
function listFiles(
  dir: string,
  keep: (relativeName: string) => string | undefined,
): { name: string; size: number }[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: "utf8" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const found: { name: string; size: number }[] = [];
  for (const entry of entries) {
    const path = join(dir, entry);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue; // removed while listing (a temporary renamed, a pack pruned)
    }
    if (!stat.isFile()) continue;
    const name = keep(relative(dir, path));
    if (name !== undefined) found.push({ name, size: stat.size });
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Object files of a directory-like store: dot files are writers' temporaries, not objects. */
function plainObject(name: string): string | undefined {
  return name.split("/").some((part) => part.startsWith("."))
    ? undefined
    : name;
}

function folderBackend(
  kind: "dir" | "sftp",
  root: string,
): Pick<PackBackend, "kind" | "objects" | "storedBytes"> {
  const files = (name: string, prefix: string) =>
    listFiles(join(root, name), plainObject).filter((file) =>
      file.name.startsWith(prefix),
    );
  return {
    kind,
    objects: (name, prefix = "") =>
      files(name, prefix).map((file) => file.name),
    storedBytes: (name, prefix = "") =>
      files(name, prefix).reduce((total, file) => total + file.size, 0),
  };
}

async function startDirBackend(): Promise<PackBackend> {
  const root = await mkdtemp(join(tmpdir(), "blindsync-packs-dir-"));
  return {
    ...folderBackend("dir", root),
    location: (name) => join(root, name),
    urlForms: () => [],
    initArgs: (name) => ["init", "--packs", join(root, name)],
    env: () => ({}),
    slowEnv: () => Promise.resolve(undefined),
    stop: () => rm(root, { recursive: true, force: true }),
  };
}

async function startSftpBackend(): Promise<PackBackend> {
  const server = requireSftpServer();
  const sshd: Sshd = await startSshd();
  const home = await mkdtemp(join(tmpdir(), "blindsync-packs-sftp-"));
  // The client key may run only sftp-server, started in `home` (relative paths land there).
  const forced = [server, "-d", home];
  await sshd.setForcedCommand(forced.join(" "));
  return {
    ...folderBackend("sftp", home),
    location: (name) => `sftp:127.0.0.1:${name}`,
    // Relative to the login folder (sftp-server -d), absolute, and without the user.
    urlForms: (name) => [
      `sftp://${sshd.user}@127.0.0.1:${sshd.port}/~/${name}`,
      `sftp://${sshd.user}@127.0.0.1:${sshd.port}${home}/${name}`,
      `sftp://127.0.0.1:${sshd.port}/~/${name}`,
    ],
    initArgs: (name) => ["init", `sftp:127.0.0.1:${name}`],
    env: () => ({ BLINDSYNC_SSH: sshd.sshCommand }),
    slowEnv: (rate) =>
      Promise.resolve({
        BLINDSYNC_SSH: `${process.execPath} ${SLOW_PIPE} ${rate} ${sshd.sshCommand}`,
      }),
    killServer: () => {
      for (const pid of processesRunning(forced)) process.kill(pid, "SIGKILL");
      return Promise.resolve();
    },
    // sshd starts a new sftp-server for each connection.
    restartServer: () => Promise.resolve(),
    stop: async () => {
      await sshd.stop();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** The pids of processes whose command line is exactly `argv` (read from /proc). */
export function processesRunning(argv: readonly string[]): number[] {
  const wanted = `${argv.join("\0")}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "latin1") === wanted)
        pids.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return pids;
}

interface ChildWithPort {
  readonly child: ChildProcessWithoutNullStreams;
  readonly port: number;
  readonly exited: Promise<void>;
}

/** Starts `node script args`, which prints {"port": N} on its first line and exits with its stdin. */
async function startWithPort(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildWithPort> {
  const child = spawn(process.execPath, [script, ...args], {
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      resolve();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => {
      reject(new Error(`${script} did not start within 30 s: ${stderr}`));
    }, 30_000);
    child.stdout.on("data", (text: string) => {
      stdout += text;
      if (!stdout.includes("\n")) return;
      clearTimeout(timer);
      resolve((JSON.parse(stdout.split("\n")[0]!) as { port: number }).port);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`${script} exited at start (${code ?? signal}): ${stderr}`),
      );
    });
  }).catch(async (error: unknown) => {
    child.kill("SIGKILL");
    await exited;
    throw error;
  });
  return { child, port, exited };
}

async function killChild(running: ChildWithPort | undefined): Promise<void> {
  if (running === undefined) return;
  const { child, exited } = running;
  if (child.exitCode === null && child.signalCode === null)
    child.kill("SIGKILL");
  await exited;
}

async function startS3Backend(): Promise<PackBackend> {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-packs-s3-"));
  const bucket = "blindsync-packs";
  await mkdir(dir, { recursive: true });
  // s3rver 3 needs the legacy provider on Node 20 (test/helpers/s3rver.ts says why).
  const start = () =>
    startWithPort(S3RVER_SCRIPT, [dir, bucket], {
      ...process.env,
      NODE_OPTIONS: "--openssl-legacy-provider",
    });
  let s3rver: ChildWithPort | undefined = await start();
  let proxy: ChildWithPort | undefined;
  const endpoint = (port: number) => `http://127.0.0.1:${port}`;
  const envFor = (port: number) => ({
    ...S3RVER_CREDENTIALS,
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL: endpoint(port),
  });
  const files = (name: string, prefix: string) =>
    listFiles(join(dir, bucket, name), (file) =>
      file.endsWith(S3RVER_OBJECT_SUFFIX)
        ? file.slice(0, -S3RVER_OBJECT_SUFFIX.length)
        : undefined,
    ).filter((file) => file.name.startsWith(prefix));
  const running = () => {
    if (s3rver === undefined) throw new Error("s3rver is not running");
    return s3rver;
  };
  return {
    kind: "s3",
    location: (name) => `s3:${bucket}/${name}`,
    urlForms: (name) => [`s3://${bucket}/${name}`, `s3://${bucket}/${name}/`],
    initArgs: (name) => ["init", `s3:${bucket}/${name}`],
    env: () => envFor(running().port),
    slowEnv: async (rate) => {
      // One proxy at a time, in front of the s3rver that runs now.
      await killChild(proxy);
      proxy = await startWithPort(SLOW_PROXY, [
        String(rate),
        String(running().port),
      ]);
      return envFor(proxy.port);
    },
    objects: (name, prefix = "") =>
      files(name, prefix).map((file) => file.name),
    storedBytes: (name, prefix = "") =>
      files(name, prefix).reduce((total, file) => total + file.size, 0),
    killServer: async () => {
      await killChild(s3rver);
      s3rver = undefined;
    },
    restartServer: async () => {
      await killChild(s3rver);
      // s3rver writes an object's bytes, then its metadata: killed between the two, it
      // answers 500 for that key ever after. S3 never shows a torn put, so neither may the
      // stand-in: such a half-written object is removed, as if its put never happened.
      for (const file of listFiles(dir, (name) =>
        name.endsWith(S3RVER_OBJECT_SUFFIX)
          ? name.slice(0, -S3RVER_OBJECT_SUFFIX.length)
          : undefined,
      )) {
        const object = join(dir, `${file.name}${S3RVER_OBJECT_SUFFIX}`);
        if (!existsSync(join(dir, `${file.name}${S3RVER_METADATA_SUFFIX}`)))
          rmSync(object);
      }
      s3rver = await start();
    },
    stop: async () => {
      await killChild(proxy);
      await killChild(s3rver);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
