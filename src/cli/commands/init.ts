/** `blindsync init REPO`: creates a repository and its first key slot. */
import { Command } from "commander";
import { BlindsyncError, isBlindsyncError } from "../../errors.js";
import { existsSync, rmSync } from "node:fs";
import { ClientCache, locationDir, Repository } from "../../repo/index.js";
import {
  resolveLocation,
  type RepositoryLocation,
  type Store,
} from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import { CachedCipherHint } from "../cipher-hint.js";
import {
  cacheRoot,
  openLocation,
  passphrase,
  type CommandContext,
} from "../context.js";
import { prepareInitTarget } from "../init-target.js";
import { kdfCostFromEnv } from "../kdf-cost.js";
import { contextOf } from "./shared.js";

export interface InitOptions {
  readonly repository: string;
  /** Leave an existing repository alone instead of failing (backup --init). */
  readonly ifMissing?: boolean;
  /** A local path: make a pack directory instead of a SQLite repository (`init --packs`). */
  readonly packs?: boolean;
  /** A local directory that holds other files: create the repository beside them. */
  readonly force?: boolean;
}

/**
 * Creates the repository. A failed init leaves nothing behind: what can fail early (the KDF
 * cost, the two passphrases, a directory holding the user's files) is settled before anything
 * is made, and a failure after that removes what this run made (the local directory or the
 * files it put there, and the location's new cache directory), unless the repository there is
 * not this run's.
 */
export async function runInit(
  context: CommandContext,
  options: InitOptions,
): Promise<void> {
  // Before anything is made: a bad value must not leave an empty repository directory behind.
  const scrypt = kdfCostFromEnv(context.env);
  const location = resolveLocation(options.repository);
  if (options.packs === true && location.kind === "ssh")
    throw new BlindsyncError(
      "usage",
      `--packs is for a local directory; "${options.repository}" is reached through blindsync serve, which keeps its own database`,
      {
        hint: `For packs on that server with nothing installed there, use sftp:${options.repository}`,
      },
    );
  if (options.ifMissing === true && (await repositoryAt(context, location)))
    return;
  const target =
    location.kind === "local"
      ? prepareInitTarget(location.path, {
          force: options.force === true,
          command: `blindsync init --force ${options.repository}`,
        })
      : undefined;
  // Asked (twice on a terminal) before anything is made: passphrases that differ end here.
  const secret = await passphrase(context, true)();
  const root = cacheRoot(context);
  const cacheDir = locationDir(root, location.key);
  const cacheExisted = existsSync(cacheDir);
  const undo = (): void => {
    try {
      target?.undo();
      if (!cacheExisted) rmSync(cacheDir, { recursive: true, force: true });
    } catch {
      // The failure being reported matters more than a leftover, which the next init names.
    }
  };
  const cipherHint = CachedCipherHint.of(root, location.key);
  let store: Store;
  try {
    store = await openLocation(
      context,
      location,
      "create",
      cipherHint,
      options.packs === true,
    );
  } catch (error) {
    undo();
    throw error;
  }
  let repo: Repository | undefined;
  try {
    repo = await Repository.create(
      store,
      secret,
      scrypt === undefined ? {} : { scrypt },
    );
    // This client made the repository, so it pins the new one: a repository that the user
    // deleted and created again at the same place is not a foreign one.
    const cache = ClientCache.open(root, location.key);
    try {
      cache.invalidateBlobs();
      cache.resetPin({
        repositoryId: repo.id,
        keyCheckValue: repo.keyCheckValue,
        lastSeq: 0,
        lastHeadId: null,
        generation: 0,
      });
      cache.saveKeySlotHint(repo.keySlotBytes);
      cipherHint.saveTo(cache);
    } finally {
      cache.close();
    }
  } catch (error) {
    // Someone else's repository there ("already exists") is never undone.
    const ours =
      repo !== undefined || !(await repositoryExists(store).catch(() => true));
    await store.close().catch(() => undefined);
    if (ours) undo();
    throw error;
  }
  await store.close();
  if (context.output.json) {
    context.output.jsonLine({
      type: "init",
      repository: options.repository,
      id: toHex(repo.id),
    });
  } else {
    context.output.line(
      `Created repository ${repo.describe()} at "${options.repository}"`,
    );
    context.output.line(
      "Keep the passphrase safe: without it the data cannot be recovered.",
    );
  }
}

/** Whether a repository exists at `location`, asked without creating anything there. */
async function repositoryAt(
  context: CommandContext,
  location: RepositoryLocation,
): Promise<boolean> {
  let store: Store;
  try {
    store = await openLocation(context, location, "open");
  } catch (error) {
    if (isBlindsyncError(error, "no-repository")) return false;
    throw error;
  }
  try {
    return await repositoryExists(store);
  } finally {
    await store.close();
  }
}

async function repositoryExists(store: Store): Promise<boolean> {
  try {
    await store.readConfig();
    return true;
  } catch (error) {
    if (isBlindsyncError(error, "no-repository")) return false;
    throw error;
  }
}

export function initCommand(): Command {
  return new Command("init")
    .description("create a new, empty repository")
    .argument(
      "<repo>",
      "a local directory, [user@]host:path, ssh://..., sftp:[user@]host:path or s3:bucket/prefix",
    )
    .option(
      "--packs",
      "a local directory of pack files (copy it anywhere with rsync or rclone) instead of one SQLite file",
    )
    .option(
      "--force",
      "create the repository in a local directory that already holds other files",
    )
    .addHelpText(
      "after",
      `
The passphrase comes from BLINDSYNC_PASSWORD, --password-file, --password-command,
or is asked twice on the terminal. It is never stored; losing it loses the data.

A local directory holds one SQLite file, or with --packs plain pack files; a directory
that already holds other files is refused unless --force. A failed init leaves nothing
behind (no directory, no database, no cache entry). Over ssh,
host:path needs blindsync on the server; sftp:host:path needs only an sftp account, and
s3:bucket/prefix an S3-compatible bucket (--s3-endpoint or AWS_ENDPOINT_URL for one not
on AWS; credentials from the AWS SDK's usual environment and files).

Examples:
  blindsync init /mnt/usb/vault
  blindsync init --packs /mnt/usb/vault
  blindsync init me@host:vault
  blindsync init --force /mnt/usb                   (beside the files already there)
  blindsync init sftp:me@storagebox:vault
  AWS_ENDPOINT_URL=https://s3.example.net blindsync init s3:backups/laptop`,
    )
    .action(
      async (
        repository: string,
        flags: { packs?: boolean; force?: boolean },
        command: Command,
      ) => {
        await runInit(contextOf(command), {
          repository,
          ...(flags.packs === true ? { packs: true } : {}),
          ...(flags.force === true ? { force: true } : {}),
        });
      },
    );
}
