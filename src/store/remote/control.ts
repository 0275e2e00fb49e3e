/**
 * The "control" calls of the protocol: locks and the prune generation, whose arguments and
 * answers are small JSON objects (docs/protocol.md lists them). The server validates every
 * field before calling its store, because a client may send anything.
 */
import { BlindsyncError } from "../../errors.js";
import type { ControlOp } from "../../protocol/index.js";
import type { LockAttempt, LockHolder, LocksRemoved, Store } from "../store.js";

function invalid(op: ControlOp, why: string): BlindsyncError {
  return new BlindsyncError(
    "protocol",
    `Malformed "${op}" control call: ${why}`,
  );
}

function parseArgs(op: ControlOp, bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw invalid(op, "not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(op, "not an object");
  }
  return value as Record<string, unknown>;
}

function field<T>(
  op: ControlOp,
  args: Record<string, unknown>,
  name: string,
  check: (value: unknown) => value is T,
): T {
  const value = args[name];
  if (!check(value)) throw invalid(op, `bad "${name}"`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === "string";
const isBoolean = (value: unknown): value is boolean =>
  typeof value === "boolean";
const isInteger = (value: unknown): value is number =>
  Number.isSafeInteger(value);

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** Server side: runs one control call against the store and returns the JSON answer. */
export async function runControl(
  store: Store,
  op: ControlOp,
  argsBytes: Uint8Array,
): Promise<Uint8Array> {
  const args = parseArgs(op, argsBytes);
  switch (op) {
    case "generation":
      return encodeJson({ generation: await store.generation() });
    case "acquire-lock": {
      const request = {
        exclusive: field(op, args, "exclusive", isBoolean),
        owner: field(op, args, "owner", isString),
        leaseMs: field(op, args, "leaseMs", isInteger),
      };
      try {
        return encodeJson(await store.acquireLock(request));
      } catch (error) {
        if (error instanceof RangeError) throw invalid(op, error.message);
        throw error;
      }
    }
    case "refresh-lock":
      await store.refreshLock(
        field(op, args, "id", isString),
        field(op, args, "leaseMs", isInteger),
      );
      return encodeJson({});
    case "release-lock":
      await store.releaseLock(field(op, args, "id", isString));
      return encodeJson({});
    case "remove-locks":
      return encodeJson(
        await store.removeLocks(field(op, args, "all", isBoolean)),
      );
    case "bump-generation":
      return encodeJson({ generation: await store.bumpGeneration() });
    case "compact":
      await store.compact();
      return encodeJson({});
  }
}

/** Client side: reads a control answer, checking the shape the server promised. */
export function decodeGeneration(bytes: Uint8Array): number {
  const answer = parseArgs("generation", bytes);
  return field("generation", answer, "generation", isInteger);
}

/**
 * Reads an acquire-lock answer. A server older than the lease cap answers without `leaseMs`
 * and `more` (and with holders' ids, which are dropped): its grant is the lease asked for.
 */
export function decodeLockAttempt(
  bytes: Uint8Array,
  requestedLeaseMs: number,
): LockAttempt {
  const op = "acquire-lock";
  const answer = parseArgs(op, bytes);
  if (answer.acquired === true)
    return {
      acquired: true,
      id: field(op, answer, "id", isString),
      leaseMs:
        answer.leaseMs === undefined
          ? requestedLeaseMs
          : field(op, answer, "leaseMs", isInteger),
    };
  if (answer.acquired !== false) throw invalid(op, "bad answer");
  return {
    acquired: false,
    holders: decodeHolders(op, answer.holders),
    more: answer.more === undefined ? 0 : field(op, answer, "more", isInteger),
  };
}

export function decodeLocksRemoved(bytes: Uint8Array): LocksRemoved {
  const op = "remove-locks";
  const answer = parseArgs(op, bytes);
  return {
    removed: field(op, answer, "removed", isInteger),
    live: decodeHolders(op, answer.live),
    more: field(op, answer, "more", isInteger),
  };
}

/** Holders as the server reports them; only the fields a holder may reveal are kept. */
function decodeHolders(op: ControlOp, holders: unknown): LockHolder[] {
  if (!Array.isArray(holders)) throw invalid(op, "bad holders");
  return holders.map((holder: unknown) => {
    if (typeof holder !== "object" || holder === null)
      throw invalid(op, "bad holder");
    const record = holder as Record<string, unknown>;
    return {
      exclusive: field(op, record, "exclusive", isBoolean),
      owner: field(op, record, "owner", isString),
      expiresAt: field(op, record, "expiresAt", isInteger),
    };
  });
}
