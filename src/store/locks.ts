/**
 * Lease-lock rules shared by every store: what a valid request is, and which live holders a
 * request conflicts with. Stores keep the holders (in memory, in SQLite) and apply these rules
 * inside one transaction, so two clients can never both believe they hold conflicting locks.
 */
import { randomBytes } from "node:crypto";
import { BlindsyncError } from "../errors.js";
import type { LockHolder, LockRequest } from "./store.js";

/** A lease longer than a day is a bug in the caller, not a plan. */
const MAX_LEASE_MS = 24 * 60 * 60 * 1000;
const MAX_OWNER_LENGTH = 200;

export function checkLockRequest(request: LockRequest): void {
  if (
    !Number.isInteger(request.leaseMs) ||
    request.leaseMs <= 0 ||
    request.leaseMs > MAX_LEASE_MS
  ) {
    throw new RangeError(
      `Lock lease must be 1 ms to 24 h, not ${request.leaseMs}`,
    );
  }
  let printable = true;
  for (let index = 0; index < request.owner.length; index++) {
    const code = request.owner.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) printable = false;
  }
  if (request.owner.length > MAX_OWNER_LENGTH || !printable) {
    throw new RangeError("Lock owner must be at most 200 printable characters");
  }
}

export function checkLeaseMs(leaseMs: number): void {
  checkLockRequest({ exclusive: false, owner: "", leaseMs });
}

/** The live holders a request must wait for: any lock for exclusive, exclusive ones for shared. */
export function conflictingHolders(
  holders: readonly LockHolder[],
  request: LockRequest,
  now: number,
): LockHolder[] {
  return holders.filter(
    (holder) =>
      holder.expiresAt > now && (request.exclusive || holder.exclusive),
  );
}

export function newLockId(): string {
  return randomBytes(12).toString("hex");
}

export function lockGoneError(id: string): BlindsyncError {
  return new BlindsyncError(
    "locked",
    `The repository lock ${id.slice(0, 8)} expired and was taken over`,
    {
      hint: "The process was paused longer than its lease; run the command again",
    },
  );
}
