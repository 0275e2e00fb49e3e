/**
 * What the local-repository modes (small-files.ts, releases.ts) share: each tool's repository
 * and cache folders on the loop file system, made fresh and removed, the tools' environments,
 * restic's command line, a set-up command that must succeed, and blindsync and restic as tools
 * with a local repository each.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { CommandSpec } from "./measure.js";
import { PASSPHRASE, RESTIC_BACKUP, resticRestoreLatest } from "./tools.js";
import { run, tail } from "./util.js";

/** A child's environment: only what the tools need, plus `extra`. */
export function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    LANG: "C.UTF-8",
    ...extra,
  };
}

/** Runs a set-up command; throws with its last lines when it fails. */
export async function checked(
  argv: readonly string[],
  environment: NodeJS.ProcessEnv,
): Promise<void> {
  const result = await run(argv, { env: environment });
  if (result.code !== 0)
    throw new Error(
      `${argv.join(" ")} exited with ${result.code}: ${tail(result.stderr + result.stdout, 6)}`,
    );
}

/** Repository and cache folders under `root` (server/NAME, client/NAME), per tool name. */
export function localRepos(root: string) {
  const repo = (name: string): string => join(root, "server", name);
  const cache = (name: string): string => join(root, "client", name);
  return {
    repo,
    cache,
    fresh: async (name: string): Promise<void> => {
      await rm(repo(name), { recursive: true, force: true });
      await rm(cache(name), { recursive: true, force: true });
      await mkdir(join(root, "server"), { recursive: true });
      await mkdir(cache(name), { recursive: true });
    },
    remove: async (name: string): Promise<void> => {
      await rm(repo(name), { recursive: true, force: true });
      await rm(cache(name), { recursive: true, force: true });
    },
    blindsyncEnv: env({
      BLINDSYNC_PASSWORD: PASSPHRASE,
      BLINDSYNC_CACHE_DIR: cache("blindsync"),
    }),
    resticEnv: env({ RESTIC_PASSWORD: PASSPHRASE }),
    restic: (args: readonly string[]): string[] => [
      "restic",
      "-r",
      repo("restic"),
      "--cache-dir",
      cache("restic"),
      ...args,
    ],
  };
}

/** A tool with a local repository: what every local mode asks of blindsync and restic. */
export interface LocalTool {
  readonly name: string;
  /** The repository's folder (its size is measured). */
  readonly repository: string;
  /** A fresh, empty repository and cache (not measured). */
  setup(): Promise<void>;
  backup(source: string): CommandSpec;
  /** Restores the latest snapshot into `target`: both tools put the tree's root there. */
  restoreLatest(target: string): CommandSpec;
  teardown(): Promise<void>;
}

/** blindsync and restic, each with a local repository and its own cache under `root`. */
export function localTools(
  root: string,
  blindsync: readonly string[],
): [LocalTool, LocalTool] {
  const { repo, fresh, remove, blindsyncEnv, resticEnv, restic } =
    localRepos(root);
  return [
    {
      name: "blindsync",
      repository: repo("blindsync"),
      setup: async () => {
        await fresh("blindsync");
        await checked([...blindsync, "init", repo("blindsync")], blindsyncEnv);
      },
      backup: (source) => ({
        argv: [...blindsync, "backup", "--json", source, repo("blindsync")],
        env: blindsyncEnv,
      }),
      restoreLatest: (target) => ({
        argv: [...blindsync, "restore", repo("blindsync"), target],
        env: blindsyncEnv,
      }),
      teardown: () => remove("blindsync"),
    },
    {
      name: "restic",
      repository: repo("restic"),
      setup: async () => {
        await fresh("restic");
        await checked(restic(["init"]), resticEnv);
      },
      backup: (source) => ({
        argv: restic(RESTIC_BACKUP),
        cwd: source,
        env: resticEnv,
      }),
      restoreLatest: (target) => ({
        argv: restic(resticRestoreLatest(target)),
        env: resticEnv,
      }),
      teardown: () => remove("restic"),
    },
  ];
}
