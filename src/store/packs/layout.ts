/**
 * Where each record of a pack repository lives on an ObjectStore (docs/pack-format.md): every
 * name the pack store reads or writes is made here, so the layout is written once.
 *
 *   config                 the opaque config record
 *   keys/NAME              one key slot each
 *   packs/XX/ID            sealed blobs, their trailer and footer; ID = hex SHA-256 of the object
 *   index/ID               index segments; ID = hex SHA-256 of the object
 *   snapshots/ID           one snapshot blob each; ID = hex blob id
 *   locks/ID               leases; ID = hex SHA-256 of the holder's lock id
 *   generation/N           the prune generation is the largest N
 */
import { createHash } from "node:crypto";
import { fromHex, toHex } from "../../util/bytes.js";
import type { BlobId } from "../store.js";

export const CONFIG_NAME = "config";
export const KEYS_PREFIX = "keys/";
export const PACKS_PREFIX = "packs/";
export const INDEX_PREFIX = "index/";
export const SNAPSHOTS_PREFIX = "snapshots/";
export const LOCKS_PREFIX = "locks/";
export const GENERATION_PREFIX = "generation/";

const HEX_ID = /^[0-9a-f]{64}$/;

/** Lowercase hex SHA-256 of `bytes`: the name of a pack or segment holding them. */
export function contentId(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** contentId() of the parts joined, without joining them. */
export function contentIdOfParts(parts: readonly Uint8Array[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

export function packName(id: string): string {
  return `${PACKS_PREFIX}${id.slice(0, 2)}/${id}`;
}

/** The pack id of a listed object name, or undefined for anything else under packs/. */
export function packIdOf(name: string): string | undefined {
  const [prefix, fan, id, ...rest] = name.split("/");
  if (prefix !== "packs" || rest.length > 0 || id === undefined) return;
  return HEX_ID.test(id) && fan === id.slice(0, 2) ? id : undefined;
}

export function segmentName(id: string): string {
  return `${INDEX_PREFIX}${id}`;
}

export function segmentIdOf(name: string): string | undefined {
  const id = name.slice(INDEX_PREFIX.length);
  return name.startsWith(INDEX_PREFIX) && HEX_ID.test(id) ? id : undefined;
}

export function snapshotName(id: BlobId): string {
  return `${SNAPSHOTS_PREFIX}${toHex(id)}`;
}

export function snapshotIdOf(name: string): BlobId | undefined {
  const hex = name.slice(SNAPSHOTS_PREFIX.length);
  return name.startsWith(SNAPSHOTS_PREFIX) && HEX_ID.test(hex)
    ? fromHex(hex)
    : undefined;
}

/**
 * A lock's object is named by the SHA-256 of its id, not the id: anyone who can list locks/
 * learns the name, and the id is its holder's proof (store.ts, LockAttempt).
 */
export function lockName(lockId: string): string {
  return `${LOCKS_PREFIX}${contentId(new TextEncoder().encode(lockId))}`;
}

export function generationName(generation: number): string {
  return `${GENERATION_PREFIX}${generation}`;
}

export function generationOf(name: string): number | undefined {
  const text = name.slice(GENERATION_PREFIX.length);
  if (
    !name.startsWith(GENERATION_PREFIX) ||
    !/^(0|[1-9][0-9]{0,14})$/.test(text)
  )
    return undefined;
  return Number(text);
}

/**
 * Key slot names are any short text (store.ts), object names are not (names.ts), and some
 * storage folds case. A name of lowercase hex (what blindsync makes) is stored as it is, so the
 * folder reads naturally; any other is stored as "u-" and the hex of its UTF-8 bytes.
 */
export function keySlotObjectName(name: string): string {
  if (/^[0-9a-f]{1,64}$/.test(name)) return `${KEYS_PREFIX}${name}`;
  const hex = Buffer.from(name, "utf8").toString("hex");
  if (name.length === 0 || hex.length > 124)
    throw new RangeError(
      `A key slot name must be 1 to 62 bytes of UTF-8, not ${JSON.stringify(name)}`,
    );
  return `${KEYS_PREFIX}u-${hex}`;
}

export function keySlotNameOf(objectName: string): string | undefined {
  const rest = objectName.slice(KEYS_PREFIX.length);
  if (!objectName.startsWith(KEYS_PREFIX)) return undefined;
  if (/^[0-9a-f]{1,64}$/.test(rest)) return rest;
  const match = /^u-((?:[0-9a-f]{2})+)$/.exec(rest);
  return match?.[1] === undefined
    ? undefined
    : Buffer.from(match[1], "hex").toString("utf8");
}
