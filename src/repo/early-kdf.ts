/**
 * Starting the passphrase KDF before the repository answers. scrypt at the default cost and
 * connecting over ssh (ssh, then `blindsync serve` starting) take a comparable fraction of a
 * second each (docs/performance.md), and run one after the other they would add up on every
 * command.
 *
 * After a successful unlock the client cache keeps the key slot that opened (not secret: the
 * server stores it in the clear). The next run parses that slot — its KDF parameters are
 * bounds-checked as always — and starts scrypt in the thread pool while it connects. When the
 * repository then presents a slot with the same salt and parameters, the result is used;
 * otherwise it is thrown away and the slot's own parameters are derived as before.
 *
 * The same remembered slot is the one Repository.open tries first (keys.ts, planUnlock), so
 * slots that others add, whatever their names, cost this client no KDF.
 *
 * Only a passphrase that needs no prompt (BLINDSYNC_PASSWORD, --password-file) is read early,
 * so a foreign or rolled-back repository is still refused before anyone is asked for one, and
 * the parameters come from this client's own cache, never from the server.
 */
import { deriveFromPassphrase, type ScryptParams } from "../crypto/index.js";
import { bytesEqual } from "../util/bytes.js";
import { parseKeySlot, type DeriveKek } from "./keys.js";

export interface EarlyKdf {
  readonly passphrase: Uint8Array;
  readonly params: ScryptParams;
  readonly kek: Promise<Uint8Array>;
}

/** Starts deriving for the remembered slot; undefined when the slot does not parse. */
export function startEarlyKdf(
  passphrase: Uint8Array,
  rememberedSlot: Uint8Array,
): EarlyKdf | undefined {
  let params: ScryptParams;
  try {
    params = parseKeySlot(rememberedSlot).params;
  } catch {
    // A damaged cache entry is only a missed shortcut.
    return undefined;
  }
  const kek = deriveFromPassphrase(passphrase, params);
  // Nobody may await it (the unlock can fail first); its failure must not go unhandled.
  kek.catch(() => undefined);
  return { passphrase, params, kek };
}

function sameParams(a: ScryptParams, b: ScryptParams): boolean {
  return (
    a.logN === b.logN &&
    a.r === b.r &&
    a.p === b.p &&
    bytesEqual(a.salt, b.salt)
  );
}

/** A DeriveKek that reuses the early result for the parameters it was started with. */
export function deriveWithEarly(early: EarlyKdf): DeriveKek {
  return (params) =>
    sameParams(params, early.params)
      ? early.kek
      : deriveFromPassphrase(early.passphrase, params);
}
