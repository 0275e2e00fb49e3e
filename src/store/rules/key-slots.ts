/**
 * The key-slot rules, written once for every store: a slot is never overwritten (a name that
 * exists is refused, so nobody with write access can replace someone's passphrase wrapping),
 * the last slot is never removed (the repository could no longer be opened), an append-only
 * connection removes none, and slots are listed in one order everywhere. A store keeps the
 * records behind the small KeySlotTable below and runs each rule inside one of its
 * transactions, so two clients cannot both remove "the other" slot.
 */
import { BlindsyncError } from "../../errors.js";
import type { KeySlot } from "../store.js";
import { refuseIfAppendOnly } from "./append-only.js";

/** The key-slot records of a store; every call of one rule happens inside one transaction. */
export interface KeySlotTable {
  /** Every slot, in any order. */
  all(): KeySlot[];
  has(name: string): boolean;
  count(): number;
  insert(slot: KeySlot): void;
  remove(name: string): void;
}

/**
 * Every slot, ordered by name as SQLite's BINARY collation orders UTF-8 (code point order), so
 * every store lists the same slots in the same order.
 */
export function listKeySlotsIn(table: KeySlotTable): KeySlot[] {
  return table
    .all()
    .sort((a, b) =>
      Buffer.compare(Buffer.from(a.name, "utf8"), Buffer.from(b.name, "utf8")),
    );
}

export function addKeySlotIn(table: KeySlotTable, slot: KeySlot): void {
  if (table.has(slot.name)) throw keySlotExistsError(slot.name);
  table.insert(slot);
}

export function removeKeySlotIn(
  table: KeySlotTable,
  name: string,
  appendOnly: boolean,
): void {
  refuseIfAppendOnly(appendOnly, "remove a key slot");
  if (!table.has(name)) {
    throw new BlindsyncError("not-found", `No key slot named "${name}"`);
  }
  if (table.count() <= 1) {
    throw new BlindsyncError(
      "failed",
      `Cannot remove key slot "${name}": it is the last one, and without it the repository cannot be opened`,
      { hint: "Add another key first with: blindsync key add" },
    );
  }
  table.remove(name);
}

function keySlotExistsError(name: string): BlindsyncError {
  return new BlindsyncError("failed", `Key slot "${name}" already exists`);
}
