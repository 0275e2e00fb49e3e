/**
 * What every command needs: the global options, the output, and the way from a REPO string
 * to an unlocked repository (store, pin checks, passphrase, cache), closed again afterwards.
 */
import {
  assessChain,
  defaultCacheRoot,
  readConnectionHints,
  startEarlyKdf,
  packIndexFile,
  unlockRepository,
  type EarlyKdf,
  type Snapshot,
  type UnlockedRepository,
} from "../repo/index.js";
import {
  openStore,
  resolveLocation,
  type CipherHint,
  type RepositoryLocation,
  type Store,
} from "../store/index.js";
import { BlindsyncError } from "../errors.js";
import { toHex } from "../util/bytes.js";
import { CachedCipherHint } from "./cipher-hint.js";
import { interrupts } from "./interrupt.js";
import type { Output } from "./output/output.js";
import { readPassphrase } from "./passphrase.js";

export interface GlobalOptions {
  readonly passwordFile?: string;
  readonly passwordCommand?: string;
  readonly cacheDir?: string;
  readonly ssh?: string;
  readonly remoteCmd?: string;
  readonly s3Endpoint?: string;
  readonly s3PathStyle?: boolean;
  /** --limit-upload and --limit-download, in KiB/s (transfer-limits.ts). */
  readonly limitUploadKiBps?: number;
  readonly limitDownloadKiBps?: number;
}

export interface CommandContext {
  readonly output: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly globals: GlobalOptions;
  /**
   * What prompts and errors call the passphrase and its options, when a command opens a
   * second repository with other ones (copy's source); the usual names when absent.
   */
  readonly passphraseNames?: { readonly label: string; readonly how: string };
}

export function cacheRoot(context: CommandContext): string {
  return context.globals.cacheDir ?? defaultCacheRoot(context.env);
}

/**
 * Opens the store at `location` with the connection options of the command line. `cipherHint`:
 * the one whose answer the caller will save; by default the server's answer is only read.
 */
export async function openLocation(
  context: CommandContext,
  location: RepositoryLocation,
  mode: "open" | "create",
  cipherHint: CipherHint = CachedCipherHint.of(
    cacheRoot(context),
    location.key,
  ),
  packs = false,
): Promise<Store> {
  const sshCommand = context.globals.ssh ?? context.env.BLINDSYNC_SSH;
  const remoteCommand =
    context.globals.remoteCmd ?? context.env.BLINDSYNC_REMOTE_CMD;
  const { s3Endpoint, s3PathStyle, limitUploadKiBps, limitDownloadKiBps } =
    context.globals;
  const packSize = packSizeOf(context.env.BLINDSYNC_PACK_SIZE);
  // Guarded: Ctrl-C releases its locks and closes it (interrupt.ts).
  const store = await openStore(location, {
    mode,
    packs,
    cipherHint,
    packIndexCache: () => packIndexFile(cacheRoot(context), location.key),
    ...(s3Endpoint === undefined ? {} : { s3Endpoint }),
    ...(s3PathStyle === undefined ? {} : { s3PathStyle }),
    ...(packSize === undefined ? {} : { packSize }),
    ...(sshCommand === undefined ? {} : { sshCommand }),
    ...(remoteCommand === undefined ? {} : { remoteCommand }),
    limits: {
      ...(limitUploadKiBps === undefined
        ? {}
        : { uploadKiBps: limitUploadKiBps }),
      ...(limitDownloadKiBps === undefined
        ? {}
        : { downloadKiBps: limitDownloadKiBps }),
    },
    onStderr: (line: string) => {
      context.output.warn(`remote: ${line}`);
    },
  });
  return interrupts.guard(store);
}

/** Whole MiB a pack may hold, as restic's --pack-size: 1 to 128. */
const PACK_SIZE_MIB = { min: 1, max: 128 };

/**
 * BLINDSYNC_PACK_SIZE, in MiB (restic's RESTIC_PACK_SIZE): the size at which a pack store
 * closes a pack (docs/pack-format.md). Bigger packs mean fewer objects and more client memory.
 */
export function packSizeOf(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const mib = /^[0-9]{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(mib >= PACK_SIZE_MIB.min && mib <= PACK_SIZE_MIB.max))
    throw new BlindsyncError(
      "usage",
      `BLINDSYNC_PACK_SIZE "${text}" is not a whole number of MiB from ${PACK_SIZE_MIB.min} to ${PACK_SIZE_MIB.max}`,
      {
        hint: "Leave it unset for 16 MiB packs, or give the size in MiB, such as 32",
      },
    );
  return mib * 1024 * 1024;
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
      label: context.passphraseNames?.label ?? "passphrase",
      how:
        context.passphraseNames?.how ??
        "BLINDSYNC_PASSWORD, --password-file or --password-command",
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

/**
 * Opens and unlocks REPO, runs `work`, and closes everything whatever happens. REPO is parsed
 * here, once; `work` receives the parsed location with the repository.
 */
export async function withRepository<T>(
  context: CommandContext,
  repository: string,
  work: (
    unlocked: UnlockedRepository,
    location: RepositoryLocation,
  ) => Promise<T>,
): Promise<T> {
  const location = resolveLocation(repository);
  const root = cacheRoot(context);
  // One read of the cache serves both: the key slot for the KDF, started before connecting so
  // that scrypt and the ssh start-up overlap (repo/early-kdf.ts), and the cipher hint.
  const hints = readConnectionHints(root, location.key);
  const early = await startEarlyUnlock(context, hints.keySlot);
  const cipherHint = CachedCipherHint.of(root, location.key, hints);
  const store = await openLocation(context, location, "open", cipherHint);
  try {
    const unlocked = await unlockRepository({
      store,
      locationKey: location.key,
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
      cipherHint.saveTo(unlocked.cache);
      warnSuspicious(context, unlocked.snapshots);
      return await work(unlocked, location);
    } finally {
      unlocked.cache.close();
    }
  } finally {
    await store.close();
  }
}
