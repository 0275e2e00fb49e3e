/**
 * The lease-lock rules, written once for every store (DESIGN.md, "The server side"): what a
 * valid request is, who conflicts with whom, how long a lease may run, what a refused request
 * learns, and who may remove locks. A store only keeps the records (a Map, a SQLite table)
 * behind the small LockTable below and runs each rule inside one of its transactions, so two
 * clients can never both believe they hold conflicting locks.
 *
 * Anyone who can connect can ask for a lock, the passphrase is not needed, so the rules bound
 * what such a connection can do: an append-only one takes shared locks only (an exclusive lock
 * would stop every backup), no lease outlives MAX_LEASE_MS without being refreshed, and a lock
 * id is a secret of its holder: it is long and random, and a refusal reports holders without
 * their ids, so nobody else can refresh or release a lock.
 */
import { randomBytes } from "node:crypto";
import { BlindsyncError } from "../../errors.js";
import type {
  LockAttempt,
  LockHolder,
  LockRequest,
  LocksRemoved,
} from "../store.js";
import { refuseIfAppendOnly } from "./append-only.js";

/**
 * The longest lease a store grants; a longer request gets this much. Holders refresh well
 * before it runs out (the engine every third of its lease), so the cap costs nothing, and a
 * lock whose holder died or hangs is gone within this time.
 */
export const MAX_LEASE_MS = 5 * 60 * 1000;
const MAX_OWNER_LENGTH = 200;
/** 256 random bits: a lock id cannot be guessed, so it works as its holder's capability. */
const LOCK_ID_BYTES = 32;
/** A refusal names at most this many holders (and counts the rest), so it stays small. */
export const MAX_REPORTED_HOLDERS = 16;

/** A lock as a store keeps it: the reported holder plus the id, which only its holder knows. */
export interface LockRecord extends LockHolder {
  readonly id: string;
}

/**
 * The records a store keeps for the rules below; every call of one rule happens inside one
 * transaction of the store. "Live" means a lease that runs out after `now`.
 */
export interface LockTable {
  /** Live holders in the order they were taken, only exclusive ones when `exclusiveOnly`. */
  live(now: number, exclusiveOnly: boolean): LockHolder[];
  insert(record: LockRecord): void;
  /** Moves the expiry of the live lock `id`; false when no live lock has that id. */
  extend(id: string, expiresAt: number, now: number): boolean;
  /** Removes the lock `id`, if any. */
  remove(id: string): void;
  /** Removes every lock whose lease ran out by `now` (every lock when `now` is Infinity). */
  removeExpired(now: number): number;
}

export function checkLockRequest(request: LockRequest): void {
  checkLeaseMs(request.leaseMs);
  let printable = true;
  for (let index = 0; index < request.owner.length; index++) {
    const code = request.owner.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) printable = false;
  }
  if (request.owner.length > MAX_OWNER_LENGTH || !printable) {
    throw new RangeError("Lock owner must be at most 200 printable characters");
  }
}

/** A lease must be a positive whole number of milliseconds; the store caps how much it grants. */
export function checkLeaseMs(leaseMs: number): void {
  if (!Number.isSafeInteger(leaseMs) || leaseMs <= 0) {
    throw new RangeError(
      `Lock lease must be a positive number of milliseconds, not ${leaseMs}`,
    );
  }
}

/** The lease a store grants for a request of `leaseMs`. */
export function grantedLeaseMs(leaseMs: number): number {
  return Math.min(leaseMs, MAX_LEASE_MS);
}

export function acquireLockIn(
  table: LockTable,
  request: LockRequest,
  appendOnly: boolean,
  now: number,
): LockAttempt {
  checkLockRequest(request);
  if (request.exclusive)
    refuseIfAppendOnly(appendOnly, "take the exclusive lock");
  table.removeExpired(now);
  // Shared locks conflict only with an exclusive one; an exclusive lock with any.
  const conflicts = table.live(now, !request.exclusive);
  if (conflicts.length > 0) {
    const { live, more } = bounded(conflicts);
    return { acquired: false, holders: live, more };
  }
  const leaseMs = grantedLeaseMs(request.leaseMs);
  const id = randomBytes(LOCK_ID_BYTES).toString("hex");
  table.insert({
    id,
    exclusive: request.exclusive,
    owner: request.owner,
    expiresAt: now + leaseMs,
  });
  return { acquired: true, id, leaseMs };
}

export function refreshLockIn(
  table: LockTable,
  id: string,
  leaseMs: number,
  now: number,
): void {
  checkLeaseMs(leaseMs);
  if (!table.extend(id, now + grantedLeaseMs(leaseMs), now))
    throw lockGoneError();
}

/** Releases the lock `id`; an unknown id is ignored, so a release can be retried. */
export function releaseLockIn(table: LockTable, id: string): void {
  table.remove(id);
}

/**
 * Removes the locks whose leases ran out or, with `all`, every lock: the escape of a full-access
 * user from a lock whose holder is gone or hostile. `all` is refused on an append-only
 * connection, which could otherwise break the exclusive lock of a running prune.
 */
export function removeLocksIn(
  table: LockTable,
  all: boolean,
  appendOnly: boolean,
  now: number,
): LocksRemoved {
  if (all) refuseIfAppendOnly(appendOnly, "remove every lock");
  const removed = table.removeExpired(all ? Infinity : now);
  const live = table.live(now, false);
  return { removed, ...bounded(live) };
}

/** At most MAX_REPORTED_HOLDERS holders, so an answer fits in a frame however many there are. */
function bounded(holders: readonly LockHolder[]): {
  live: LockHolder[];
  more: number;
} {
  return {
    live: holders.slice(0, MAX_REPORTED_HOLDERS).map(publicHolder),
    more: Math.max(0, holders.length - MAX_REPORTED_HOLDERS),
  };
}

/** Only what a holder said about itself, never its id. */
function publicHolder(holder: LockHolder): LockHolder {
  return {
    exclusive: holder.exclusive,
    owner: holder.owner,
    expiresAt: holder.expiresAt,
  };
}

/** The lock is no longer held, so the holder cannot rely on it. The id is not repeated. */
export function lockGoneError(): BlindsyncError {
  return new BlindsyncError(
    "locked",
    "The repository lock this command held expired or was removed",
    {
      hint: "The process was paused longer than its lease, or someone ran blindsync unlock --remove-all; run the command again",
    },
  );
}
