/**
 * The KDF cost of new key slots, from BLINDSYNC_KDF_LOGN: read here once for `init` (and so
 * `backup --init`) and for `key add` / `key passwd`. The test suite sets it to 15, the cheapest
 * cost a slot may carry, to keep hundreds of inits fast; users leave it unset and get
 * DEFAULT_SCRYPT.
 */
import { BlindsyncError } from "../errors.js";
import {
  DEFAULT_SCRYPT,
  SCRYPT_BOUNDS,
  scryptCostInBounds,
  type ScryptParams,
} from "../crypto/index.js";

/**
 * The cost BLINDSYNC_KDF_LOGN asks for (N = 2^value, r and p the default's), or undefined when
 * it is unset or empty and the default stands. A usage error (exit 2) unless it is a decimal
 * integer giving a cost a key slot may carry: checked before a repository or a slot is made,
 * rather than refused later by the slot's own check, which reports a forged slot (exit 14).
 */
export function kdfCostFromEnv(
  env: NodeJS.ProcessEnv,
): Omit<ScryptParams, "salt"> | undefined {
  const text = env.BLINDSYNC_KDF_LOGN;
  if (text === undefined || text === "") return undefined;
  const { r, p } = DEFAULT_SCRYPT;
  const cost = { logN: Number(text), r, p };
  if (/^[0-9]+$/.test(text) && scryptCostInBounds(cost)) return cost;
  const { min, max } = SCRYPT_BOUNDS.logN;
  const accepted = Array.from(
    { length: max - min + 1 },
    (_, i) => min + i,
  ).filter((logN) => scryptCostInBounds({ logN, r, p }));
  const mib = (128 * r * 2 ** DEFAULT_SCRYPT.logN) / 2 ** 20;
  throw new BlindsyncError(
    "usage",
    `BLINDSYNC_KDF_LOGN must be an integer from ${String(accepted[0])} to ${String(accepted.at(-1))}, not "${text}"`,
    {
      hint: `It sets scrypt's N = 2^BLINDSYNC_KDF_LOGN (r = ${String(r)}, p = ${String(p)}) for new key slots; unset, new slots get ${String(DEFAULT_SCRYPT.logN)} (${String(mib)} MiB)`,
    },
  );
}
