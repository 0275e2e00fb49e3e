/**
 * The four tools, each behind the same interface: a fresh repository (not measured), the backup
 * command for A, B and C, the full restore for D and the one-file restore for E. Every tool
 * reaches the server through the counting proxy with the same ssh command line and key, and
 * every encrypting tool gets the same passphrase, from the environment, so nothing prompts.
 */
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { CommandSpec } from "./measure.js";
import { sshCommandLine } from "./sshd.js";
import { run, runOk, tail } from "./util.js";

export const PASSPHRASE = "blindsync benchmark passphrase";

/**
 * restic's backup of the source directory, run with the source as its working directory
 * (relative ".": restic then stores the directory's contents at the snapshot root), and its
 * restore of that snapshot: the same words against every repository the benchmark gives it.
 */
export const RESTIC_BACKUP: readonly string[] = [
  "backup",
  "--host",
  "bench",
  ".",
];
export function resticRestoreLatest(target: string): string[] {
  return ["restore", "latest", "--host", "bench", "--target", target];
}

export interface ToolContext {
  /** The ssh command line (words) without host and port. */
  readonly ssh: readonly string[];
  readonly user: string;
  readonly proxyPort: number;
  /** The loop file system's mount point. */
  readonly root: string;
  /** `node /abs/dist/cli/main.js`, as words. */
  readonly blindsync: readonly string[];
  /** The blindsync checkout (for the version: its commit). */
  readonly projectRoot: string;
  /**
   * Another build's `node /abs/dist/cli/main.js` (BLINDSYNC_BENCH_BASELINE), run as the tool
   * `blindsync-sftp-before` in the same run, so a change is measured against its base
   * interleaved, on the same machine load.
   */
  readonly baseline?: readonly string[] | undefined;
}

export type BackupLabel = "a" | "b" | "c";

export interface Tool {
  readonly name: string;
  version(): Promise<string>;
  /** A fresh, empty repository and client cache (not measured). */
  setup(): Promise<void>;
  backup(source: string, label: BackupLabel): CommandSpec;
  /** Restores the latest backup into `target` (an existing empty directory). */
  restoreAll(target: string): CommandSpec;
  /** Restores the file at `path` (relative to the corpus root) into `target`. */
  restoreOne(path: string, target: string): CommandSpec;
  /** Where the restored copy of `path` lands under `target`. */
  restoredOne(path: string, target: string): string;
  /** Removes the repository and the client cache. */
  teardown(): Promise<void>;
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    LANG: "C.UTF-8",
    ...extra,
  };
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

/** Finds the directory under `target` that holds the restored corpus root. */
export function restoredRoot(
  target: string,
  source: string,
  marker: string,
): string {
  for (const candidate of [target, join(target, source)])
    if (existsSync(join(candidate, marker))) return candidate;
  return target;
}

export function makeTools(context: ToolContext): Tool[] {
  const server = join(context.root, "server");
  const client = join(context.root, "client");
  const host = `${context.user}@127.0.0.1`;
  const sshWithPort = [...context.ssh, "-p", String(context.proxyPort)];
  const sshLine = sshCommandLine(context.ssh);
  const sshLineWithPort = sshCommandLine(sshWithPort);

  const fresh = async (
    name: string,
  ): Promise<{ repo: string; cache: string }> => {
    const repo = join(server, name);
    const cache = join(client, name);
    await rm(repo, { recursive: true, force: true });
    await rm(cache, { recursive: true, force: true });
    await mkdir(server, { recursive: true });
    await mkdir(cache, { recursive: true });
    return { repo, cache };
  };
  const removeAll = async (name: string): Promise<void> => {
    await rm(join(server, name), { recursive: true, force: true });
    await rm(join(client, name), { recursive: true, force: true });
  };
  const checked = async (
    argv: readonly string[],
    env: NodeJS.ProcessEnv,
    what: string,
  ): Promise<void> => {
    const result = await run(argv, { env });
    if (result.code !== 0)
      throw new Error(
        `${what} exited with ${result.code}: ${tail(result.stderr + result.stdout, 6)}`,
      );
  };

  // blindsync: ssh://user@host:port/abs/path (blindsync serve on the server), or with
  // sftp://user@host:port/abs/path a pack repository through the server's sftp-server alone;
  // --ssh and --remote-cmd through the environment.
  const blindsyncTool = (
    name: string,
    repo: string,
    cli: readonly string[] = context.blindsync,
  ): Tool => {
    const env = baseEnv({
      BLINDSYNC_PASSWORD: PASSPHRASE,
      BLINDSYNC_CACHE_DIR: join(client, name),
      BLINDSYNC_SSH: sshLine,
      BLINDSYNC_REMOTE_CMD: cli.join(" "),
    });
    return {
      name,
      version: async () => {
        const head = await run([
          "git",
          "-C",
          context.projectRoot,
          "describe",
          "--always",
          "--dirty",
        ]);
        return `blindsync ${head.stdout.trim() || "(unknown commit)"}`;
      },
      setup: async () => {
        await fresh(name);
        await checked([...cli, "init", repo], env, `${name} init`);
      },
      backup: (source) => ({
        argv: [...cli, "backup", "--json", source, repo],
        env,
      }),
      restoreAll: (target) => ({
        argv: [...cli, "restore", repo, target],
        env,
      }),
      restoreOne: (path, target) => ({
        argv: [...cli, "restore", repo, target, "--include", path],
        env,
      }),
      restoredOne: (path, target) => join(target, path),
      teardown: () => removeAll(name),
    };
  };
  const blindsync = blindsyncTool(
    "blindsync",
    `ssh://${host}:${context.proxyPort}${join(server, "blindsync")}`,
  );
  const blindsyncSftp = blindsyncTool(
    "blindsync-sftp",
    `sftp://${host}:${context.proxyPort}${join(server, "blindsync-sftp")}`,
  );

  // restic: the sftp backend, its ssh command given whole through -o sftp.command.
  const resticRepo = `sftp:${host}:${join(server, "restic")}`;
  const restic = (args: readonly string[]): string[] => [
    "restic",
    "-r",
    resticRepo,
    "-o",
    `sftp.command=${sshLineWithPort} ${host} -s sftp`,
    "--cache-dir",
    join(client, "restic"),
    ...args,
  ];
  const resticEnv = baseEnv({ RESTIC_PASSWORD: PASSPHRASE });
  const resticTool: Tool = {
    name: "restic",
    version: async () => firstLine(await runOk(["restic", "version"])),
    setup: async () => {
      await fresh("restic");
      await checked(restic(["init"]), resticEnv, "restic init");
    },
    backup: (source) => ({
      argv: restic(RESTIC_BACKUP),
      cwd: source,
      env: resticEnv,
    }),
    restoreAll: (target) => ({
      argv: restic(resticRestoreLatest(target)),
      env: resticEnv,
    }),
    restoreOne: (path, target) => ({
      argv: restic([
        "restore",
        "latest",
        "--host",
        "bench",
        "--target",
        target,
        "--include",
        `/${path}`,
      ]),
      env: resticEnv,
    }),
    restoredOne: (path, target) => join(target, path),
    teardown: () => removeAll("restic"),
  };

  // borg: `borg serve` over ssh (BORG_RSH), repokey, default compression (lz4).
  const borgRepo = `ssh://${host}:${context.proxyPort}${join(server, "borg")}`;
  const borgEnv = baseEnv({
    BORG_PASSPHRASE: PASSPHRASE,
    BORG_RSH: sshLine,
    BORG_BASE_DIR: join(client, "borg"),
    BORG_DISPLAY_PASSPHRASE: "no",
    BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes",
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes",
  });
  let borgLatest: BackupLabel = "a";
  const borg: Tool = {
    name: "borg",
    version: async () => firstLine(await runOk(["borg", "--version"])),
    setup: async () => {
      await fresh("borg");
      borgLatest = "a";
      await checked(
        ["borg", "init", "--encryption", "repokey", borgRepo],
        borgEnv,
        "borg init",
      );
    },
    backup: (source, label) => {
      borgLatest = label;
      return {
        argv: ["borg", "create", `${borgRepo}::${label}`, "."],
        cwd: source,
        env: borgEnv,
      };
    },
    restoreAll: (target) => ({
      argv: ["borg", "extract", `${borgRepo}::${borgLatest}`],
      cwd: target,
      env: borgEnv,
    }),
    restoreOne: (path, target) => ({
      argv: ["borg", "extract", `${borgRepo}::${borgLatest}`, path],
      cwd: target,
      env: borgEnv,
    }),
    restoredOne: (path, target) => join(target, path),
    teardown: () => removeAll("borg"),
  };

  // rsync: a plain mirror over ssh, no encryption: the speed reference.
  const rsyncDest = join(server, "rsync");
  const rsyncEnv = baseEnv({});
  const rsync: Tool = {
    name: "rsync",
    version: async () =>
      firstLine(await runOk(["rsync", "--version"])).replace(/\s+/g, " "),
    setup: async () => {
      await fresh("rsync");
      await mkdir(rsyncDest, { recursive: true });
    },
    backup: (source) => ({
      argv: [
        "rsync",
        "-a",
        "--delete",
        "-e",
        sshLineWithPort,
        `${source}/`,
        `${host}:${rsyncDest}/`,
      ],
      env: rsyncEnv,
    }),
    restoreAll: (target) => ({
      argv: [
        "rsync",
        "-a",
        "-e",
        sshLineWithPort,
        `${host}:${rsyncDest}/`,
        `${target}/`,
      ],
      env: rsyncEnv,
    }),
    restoreOne: (path, target) => ({
      argv: [
        "rsync",
        "-a",
        "-e",
        sshLineWithPort,
        `${host}:${join(rsyncDest, path)}`,
        `${target}/`,
      ],
      env: rsyncEnv,
    }),
    restoredOne: (path, target) => join(target, basename(path)),
    teardown: () => removeAll("rsync"),
  };

  const before =
    context.baseline === undefined
      ? []
      : [
          blindsyncTool(
            "blindsync-sftp-before",
            `sftp://${host}:${context.proxyPort}${join(server, "blindsync-sftp-before")}`,
            context.baseline,
          ),
        ];
  return [blindsync, blindsyncSftp, ...before, resticTool, borg, rsync];
}
