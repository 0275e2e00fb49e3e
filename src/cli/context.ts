/**
 * What every command needs: the global options, the output, and the way from a REPO string
 * to an unlocked repository (store, pin checks, passphrase, cache), closed again afterwards.
 */
import { resolve } from "node:path";
import {
  assessChain,
  defaultCacheRoot,
  type ClientCache,
  readConnectionHints,
  type ConnectionHints,
  startEarlyKdf,
  unlockRepository,
  type EarlyKdf,
  type Snapshot,
  type UnlockedRepository,
} from "../repo/index.js";
import {
  openStore,
  parseLocation,
  serverHasAes,
  type Store,
} from "../store/index.js";
import { toHex } from "../util/bytes.js";
import { cpuHasAes } from "../util/cpu-features.js";
import type { Output } from "./output/output.js";
import { readPassphrase } from "./passphrase.js";

export interface GlobalOptions {
  readonly passwordFile?: string;
  readonly passwordCommand?: string;
  readonly cacheDir?: string;
  readonly ssh?: string;
  readonly remoteCmd?: string;
}

export interface CommandContext {
  readonly output: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly globals: GlobalOptions;
}

/** A stable key for a location: the client's cache and pin are kept per key. */
export function locationKey(location: string): string {
  const parsed = parseLocation(location);
  if (parsed.kind === "local") return resolve(parsed.path);
  const user = parsed.user === undefined ? "" : `${parsed.user}@`;
  const port = parsed.port === undefined ? "" : `:${parsed.port}`;
  return `ssh://${user}${parsed.host}${port}/${parsed.path}`;
}

export function cacheRoot(context: CommandContext): string {
  return context.globals.cacheDir ?? defaultCacheRoot(context.env);
}

/**
 * Opens the store at `location`. Over ssh, AES-GCM is asked for first when this machine's CPU
 * has AES instructions and the server said on an earlier connection that its CPU has them too
 * (store/remote/ssh-ciphers.ts); ssh's own defaults stand until the server has said so.
 * `hints`: the location's cached hints when the caller has read them already.
 */
export async function openLocation(
  context: CommandContext,
  location: string,
  mode: "open" | "create",
  hints?: ConnectionHints,
): Promise<Store> {
  const sshCommand = context.globals.ssh ?? context.env.BLINDSYNC_SSH;
  const remoteCommand =
    context.globals.remoteCmd ?? context.env.BLINDSYNC_REMOTE_CMD;
  const preferAesGcm =
    parseLocation(location).kind === "ssh" &&
    cpuHasAes() &&
    (hints ?? readConnectionHints(cacheRoot(context), locationKey(location)))
      .serverHasAes === true;
  return openStore(location, {
    mode,
    preferAesGcm,
    ...(sshCommand === undefined ? {} : { sshCommand }),
    ...(remoteCommand === undefined ? {} : { remoteCommand }),
    onStderr: (line: string) => {
      context.output.warn(`remote: ${line}`);
    },
  });
}

export function passphrase(
  context: CommandContext,
  confirm = false,
): () => Promise<Uint8Array> {
  return () =>
    readPassphrase({
      env: context.env.BLINDSYNC_PASSWORD,
      file: context.globals.passwordFile,
      command: context.globals.passwordCommand,
      label: "passphrase",
      how: "BLINDSYNC_PASSWORD, --password-file or --password-command",
      confirm,
    });
}

/**
 * The KDF for the key slot this client last used, started now when the passphrase needs no
 * prompt (the environment or a file); undefined otherwise, and the unlock asks as usual.
 */
async function startEarlyUnlock(
  context: CommandContext,
  slot: Uint8Array | undefined,
): Promise<EarlyKdf | undefined> {
  const fromEnv = context.env.BLINDSYNC_PASSWORD;
  const noPrompt =
    (fromEnv !== undefined && fromEnv !== "") ||
    context.globals.passwordFile !== undefined;
  if (!noPrompt || slot === undefined) return undefined;
  let secret: Uint8Array;
  try {
    secret = await passphrase(context)();
  } catch {
    // Reported by the regular unlock, at the regular moment.
    return undefined;
  }
  return startEarlyKdf(secret, slot);
}

/** Keeps what the server said about its CPU for the next connection's cipher choice. */
export function rememberServerAes(cache: ClientCache, store: Store): void {
  const hasAes = serverHasAes(store);
  if (hasAes !== undefined) cache.saveServerAesHint(hasAes);
}

/**
 * Names every snapshot left out of the head chain (repo/snapshot.ts, assessChain): each run
 * says so, since such a record was written with the keys by someone who does not follow the
 * chain, and `latest` and the next backup now pass it by.
 */
function warnSuspicious(
  context: CommandContext,
  snapshots: readonly Snapshot[],
): void {
  for (const { snapshot, reason } of assessChain(snapshots).suspicious) {
    context.output.warn(
      `Snapshot ${toHex(snapshot.id).slice(0, 8)} is left out of the head chain (${reason}): it is never "latest" and no backup follows it`,
    );
  }
}

/** Opens and unlocks REPO, runs `work`, and closes everything whatever happens. */
export async function withRepository<T>(
  context: CommandContext,
  location: string,
  work: (unlocked: UnlockedRepository) => Promise<T>,
): Promise<T> {
  const key = locationKey(location);
  const root = cacheRoot(context);
  // One read of the cache serves both: the key slot for the KDF, started before connecting so
  // that scrypt and the ssh start-up overlap (repo/early-kdf.ts), and the cipher hint.
  const hints = readConnectionHints(root, key);
  const early = await startEarlyUnlock(context, hints.keySlot);
  const store = await openLocation(context, location, "open", hints);
  try {
    const unlocked = await unlockRepository({
      store,
      locationKey: key,
      cacheRoot: root,
      passphrase: passphrase(context),
      early,
      keySlotHint: hints.keySlot,
      keySlotName: context.env.BLINDSYNC_KEY_SLOT,
      onWarning: (message) => {
        context.output.warn(message);
      },
    });
    try {
      rememberServerAes(unlocked.cache, store);
      warnSuspicious(context, unlocked.snapshots);
      return await work(unlocked);
    } finally {
      unlocked.cache.close();
    }
  } finally {
    await store.close();
  }
}
