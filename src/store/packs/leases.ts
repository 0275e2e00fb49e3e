/**
 * Lease locks as objects under locks/, for storage that cannot run a transaction: a client
 * writes its lock, then lists the others and backs off (deleting its own) if a conflicting live
 * lease is there, so two conflicting clients may both back off but never both hold. The rules
 * (who conflicts, lease caps, what a refusal says) are store/rules' own, run over the listed
 * records. Expiry is by each writer's clock: a lease is judged expired only a grace period
 * (a tenth of the lease, at most 15 s) after its end, for clocks that disagree a little.
 */
import { BlindsyncError } from "../../errors.js";
import type { ObjectStore } from "../objects/index.js";
import {
  MAX_LEASE_MS,
  MAX_REPORTED_HOLDERS,
  acquireLockIn,
  refreshLockIn,
  removeLocksIn,
  type LockRecord,
  type LockTable,
} from "../rules/index.js";
import type {
  LockAttempt,
  LockHolder,
  LockRequest,
  LocksRemoved,
} from "../store.js";
import { LOCKS_PREFIX, lockName } from "./layout.js";

const MAX_GRACE_MS = 15_000;

interface StoredLease extends LockRecord {
  /** The object holding it. */
  readonly name: string;
  readonly takenAt: number;
  readonly leaseMs: number;
}

export class Leases {
  readonly #objects: ObjectStore;
  readonly #appendOnly: boolean;

  constructor(objects: ObjectStore, appendOnly: boolean) {
    this.#objects = objects;
    this.#appendOnly = appendOnly;
  }

  async acquire(request: LockRequest): Promise<LockAttempt> {
    const now = Date.now();
    const table = new LeaseTable(await this.#list());
    const attempt = acquireLockIn(table, request, this.#appendOnly, now);
    await this.#deleteAll(table.removed);
    const mine = table.inserted;
    if (!attempt.acquired || mine === undefined) return attempt;
    await this.#objects.put(mine.name, encode(mine));
    // Written first, checked after: whoever sees a conflict backs off, so no two both hold.
    const others = (await this.#list()).filter(
      (lease) => lease.name !== mine.name,
    );
    const conflicts = new LeaseTable(others).live(
      Date.now(),
      !request.exclusive,
    );
    if (conflicts.length === 0) return attempt;
    await this.#objects.delete(mine.name);
    return {
      acquired: false,
      holders: conflicts.slice(0, MAX_REPORTED_HOLDERS).map(publicHolder),
      more: Math.max(0, conflicts.length - MAX_REPORTED_HOLDERS),
    };
  }

  async refresh(id: string, leaseMs: number): Promise<void> {
    const name = lockName(id);
    const lease = await this.#read(name);
    const now = Date.now();
    const table = new LeaseTable(lease === undefined ? [] : [{ ...lease, id }]);
    refreshLockIn(table, id, leaseMs, now);
    const extended = table.extended;
    if (extended !== undefined) await this.#objects.put(name, encode(extended));
  }

  async release(id: string): Promise<void> {
    await this.#objects.delete(lockName(id));
  }

  async remove(all: boolean): Promise<LocksRemoved> {
    const now = Date.now();
    const table = new LeaseTable(await this.#list());
    const result = removeLocksIn(table, all, this.#appendOnly, now);
    await this.#deleteAll(table.removed);
    return result;
  }

  async #deleteAll(names: readonly string[]): Promise<void> {
    for (const name of names) await this.#objects.delete(name);
  }

  async #list(): Promise<StoredLease[]> {
    const leases: StoredLease[] = [];
    for await (const info of this.#objects.list(LOCKS_PREFIX)) {
      const lease = await this.#read(info.name);
      if (lease !== undefined) leases.push(lease);
    }
    return leases.sort(
      (a, b) => a.takenAt - b.takenAt || (a.name < b.name ? -1 : 1),
    );
  }

  /** The lease in object `name`; undefined when it is gone or is not a lease at all. */
  async #read(name: string): Promise<StoredLease | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#objects.get(name);
    } catch (error) {
      if (error instanceof BlindsyncError && error.kind === "not-found")
        return undefined;
      throw error;
    }
    return decode(name, bytes);
  }
}

/**
 * The rules' LockTable over leases listed a moment ago: what the rules insert, extend and
 * remove is recorded, and written to storage by Leases afterwards.
 */
class LeaseTable implements LockTable {
  readonly #leases: StoredLease[];
  readonly removed: string[] = [];
  inserted: StoredLease | undefined;
  extended: StoredLease | undefined;

  constructor(leases: StoredLease[]) {
    this.#leases = leases;
  }

  live(now: number, exclusiveOnly: boolean): LockHolder[] {
    return this.#leases.filter(
      (lease) => !expired(lease, now) && (lease.exclusive || !exclusiveOnly),
    );
  }

  insert(record: LockRecord): void {
    const leaseMs = record.expiresAt - Date.now();
    this.inserted = {
      ...record,
      name: lockName(record.id),
      takenAt: Date.now(),
      leaseMs: Math.max(1, leaseMs),
    };
  }

  extend(id: string, expiresAt: number, now: number): boolean {
    // The holder's own lease, by its own clock: no grace.
    const lease = this.#leases.find((candidate) => candidate.id === id);
    if (lease === undefined || lease.expiresAt <= now) return false;
    this.extended = { ...lease, expiresAt, leaseMs: expiresAt - now };
    return true;
  }

  remove(id: string): void {
    this.removed.push(lockName(id));
  }

  removeExpired(now: number): number {
    const stale = this.#leases.filter((lease) => expired(lease, now));
    for (const lease of stale) {
      this.removed.push(lease.name);
      this.#leases.splice(this.#leases.indexOf(lease), 1);
    }
    return stale.length;
  }
}

/**
 * Ran out, by this reader's clock and the grace; or ends further ahead than any client may
 * hold a lease (MAX_LEASE_MS, plus the skew the grace allows): no client wrote that, and
 * believing it would let anyone who can write to locks/ lock everyone out for years.
 */
function expired(lease: StoredLease, now: number): boolean {
  return (
    lease.expiresAt + grace(lease) <= now ||
    lease.expiresAt > now + MAX_LEASE_MS + MAX_GRACE_MS
  );
}

function grace(lease: StoredLease): number {
  return Math.min(Math.floor(lease.leaseMs / 10), MAX_GRACE_MS);
}

function publicHolder(holder: LockHolder): LockHolder {
  return {
    exclusive: holder.exclusive,
    owner: holder.owner,
    expiresAt: holder.expiresAt,
  };
}

/** A lease object: JSON, so that anyone looking at the storage can read who holds what. */
function encode(lease: StoredLease): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      version: 1,
      exclusive: lease.exclusive,
      owner: lease.owner,
      takenAt: lease.takenAt,
      expiresAt: lease.expiresAt,
      leaseMs: lease.leaseMs,
    }),
  );
}

function decode(name: string, bytes: Uint8Array): StoredLease | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Record<
      string,
      unknown
    >;
    const { exclusive, owner, takenAt, expiresAt, leaseMs } = value;
    if (
      value.version !== 1 ||
      typeof exclusive !== "boolean" ||
      typeof owner !== "string" ||
      !Number.isSafeInteger(takenAt) ||
      !Number.isSafeInteger(expiresAt) ||
      !Number.isSafeInteger(leaseMs)
    )
      return undefined;
    // The id is its holder's secret and is not stored; the name stands in for it here.
    return {
      id: name,
      name,
      exclusive,
      owner,
      takenAt: takenAt as number,
      expiresAt: expiresAt as number,
      leaseMs: leaseMs as number,
    };
  } catch {
    return undefined;
  }
}
