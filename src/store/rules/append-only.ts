/**
 * Everything an append-only connection (`serve --append-only`) refuses, in one list: a stolen
 * client key may add data, never destroy or hide it (DESIGN.md, "The server side"). The rule
 * modules beside this one and every store ask here, so the list and its wording exist once.
 * The SQLite store also refuses in the database itself (schema.ts, enforceAppendOnly), as a
 * second line should a code path forget to ask.
 */
import { BlindsyncError } from "../../errors.js";

const OTHER_CONNECTION =
  "Use a connection that is not append-only (a separate key whose forced command lacks --append-only)";

/** What each refused action says: its message after "The repository is append-only: ", and a hint. */
const REFUSALS = {
  "delete blobs": { why: "cannot delete blobs", hint: OTHER_CONNECTION },
  "remove a key slot": {
    why: "cannot remove a key slot",
    hint: OTHER_CONNECTION,
  },
  prune: { why: "cannot prune", hint: OTHER_CONNECTION },
  compact: { why: "cannot compact", hint: OTHER_CONNECTION },
  /** Caught by the database's own triggers rather than by a rule. */
  "delete or overwrite stored data": {
    why: "cannot delete or overwrite stored data",
    hint: OTHER_CONNECTION,
  },
  /** An exclusive lock would stop every backup, so a key that may not prune may not take it. */
  "take the exclusive lock": {
    why: "this connection may take only shared locks (backups), not the exclusive lock of prune",
    hint: "Prune over a connection that is not append-only (a separate key whose forced command lacks --append-only)",
  },
  /** It could break the exclusive lock of a running prune. */
  "remove every lock": {
    why: "this connection cannot remove other clients' locks",
    hint: "Run blindsync unlock --remove-all over a connection that is not append-only",
  },
} as const;

export type AppendOnlyAction = keyof typeof REFUSALS;

export function appendOnlyError(action: AppendOnlyAction): BlindsyncError {
  const { why, hint } = REFUSALS[action];
  return new BlindsyncError(
    "append-only",
    `The repository is append-only: ${why}`,
    { hint },
  );
}

/** Throws appendOnlyError(action) on an append-only store; call it before changing anything. */
export function refuseIfAppendOnly(
  appendOnly: boolean,
  action: AppendOnlyAction,
): void {
  if (appendOnly) throw appendOnlyError(action);
}
