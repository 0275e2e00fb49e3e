/**
 * Unlocking a repository as a client: the pin checks that turn a swapped or rolled-back
 * repository into a refusal (exit 14) instead of a silent success.
 *
 * Order matters: the repository id is compared with the pin BEFORE the passphrase is asked
 * for or any KDF runs, and nothing is written to the cache until the passphrase has proved
 * itself (a wrong passphrase leaves no trace).
 */
import { BlindsyncError } from "../errors.js";
import type { Store } from "../store/index.js";
import { bytesEqual, toHex } from "../util/bytes.js";
import { ClientCache } from "./cache/client-cache.js";
import { advancePin as advanceStoredPin, readPin } from "./cache/pin.js";
import { parseConfig } from "./config.js";
import { deriveWithEarly, type EarlyKdf } from "./early-kdf.js";
import { checkHead } from "./pin-check.js";
import { Repository } from "./repository.js";
import { headOf, type Snapshot } from "./snapshot.js";

export { checkHead } from "./pin-check.js";

export interface UnlockOptions {
  readonly store: Store;
  /** A stable name for the location (canonical path or ssh address): the cache and pin key. */
  readonly locationKey: string;
  readonly cacheRoot: string;
  /** Asked only after the repository is known to exist and to match the pin. */
  readonly passphrase: () => Promise<Uint8Array>;
  /** A KDF already running for the remembered key slot; its passphrase replaces asking. */
  readonly early?: EarlyKdf | undefined;
  /** The key slot this client opened last (the cache's hint): tried first. */
  readonly keySlotHint?: Uint8Array | undefined;
  /** A key slot the user named (BLINDSYNC_KEY_SLOT): tried before any other. */
  readonly keySlotName?: string | undefined;
  /** Warnings about skipped records (unreadable key slots, undecodable snapshot blobs). */
  readonly onWarning?: ((message: string) => void) | undefined;
}

export interface UnlockedRepository {
  readonly repo: Repository;
  readonly cache: ClientCache;
  /** Every snapshot, authenticated, oldest first. */
  readonly snapshots: Snapshot[];
  readonly head: Snapshot | undefined;
}

function rollback(message: string, cacheRoot: string): BlindsyncError {
  return new BlindsyncError("rollback", message, {
    hint: `If you restored or replaced the repository on purpose, accept it as it is now: blindsync accept-rollback REPO (this changes only its pin, in the cache under "${cacheRoot}")`,
  });
}

export async function unlockRepository(
  options: UnlockOptions,
): Promise<UnlockedRepository> {
  const { store, locationKey, cacheRoot } = options;
  const config = parseConfig(await store.readConfig());
  const pin = readPin(cacheRoot, locationKey);
  if (pin !== undefined && !bytesEqual(pin.repositoryId, config.repositoryId)) {
    throw rollback(
      `The repository at "${locationKey}" is not the one this client has used (id ${toHex(config.repositoryId).slice(0, 8)}, expected ${toHex(pin.repositoryId).slice(0, 8)})`,
      cacheRoot,
    );
  }
  const early = options.early;
  const openOptions = {
    preference: { bytes: options.keySlotHint, name: options.keySlotName },
    ...(options.onWarning === undefined
      ? {}
      : { onWarning: options.onWarning }),
  };
  const repo =
    early === undefined
      ? await Repository.open(
          store,
          await options.passphrase(),
          undefined,
          openOptions,
        )
      : await Repository.open(
          store,
          early.passphrase,
          deriveWithEarly(early),
          openOptions,
        );
  if (pin !== undefined && !bytesEqual(pin.keyCheckValue, repo.keyCheckValue)) {
    throw rollback(
      `The repository at "${locationKey}" has other keys than the one this client has used`,
      cacheRoot,
    );
  }
  const snapshots = await repo.listSnapshots();
  if (pin !== undefined) checkHead(pin, snapshots, cacheRoot);
  const head = headOf(snapshots);
  // Forward only: a backup beside this command may have pinned a newer head meanwhile.
  advanceStoredPin(cacheRoot, locationKey, {
    repositoryId: repo.id,
    keyCheckValue: repo.keyCheckValue,
    lastSeq: head?.seq ?? 0,
    lastHeadId: head?.id ?? null,
    generation: pin?.generation ?? 0,
  });
  const cache = ClientCache.open(cacheRoot, locationKey);
  cache.saveKeySlotHint(repo.keySlotBytes);
  return { repo, cache, snapshots, head };
}

/** Records a new head this client wrote (forward only, like every pin write). */
export function advancePin(
  cache: ClientCache,
  repo: Repository,
  head: Snapshot,
): void {
  advanceStoredPin(cache.cacheRoot, cache.locationKey, {
    repositoryId: repo.id,
    keyCheckValue: repo.keyCheckValue,
    lastSeq: head.seq,
    lastHeadId: head.id,
    // The generation is the cache's business (syncGeneration); max() keeps the stored one.
    generation: 0,
  });
}
