/**
 * The rules of the repository's two small records, written once for every store: the config
 * record is written once, with the first key slot, and never replaced; the prune generation
 * starts at 0 and only a connection that may prune moves it, one step at a time. A store keeps
 * each record behind a small Cell and runs each rule inside one of its transactions, so two
 * prunes never both read n and write n + 1.
 */
import { BlindsyncError } from "../../errors.js";
import type { KeySlot } from "../store.js";
import { refuseIfAppendOnly } from "./append-only.js";
import type { KeySlotTable } from "./key-slots.js";

/** One stored value of a store: undefined until first written. */
export interface Cell<T> {
  read(): T | undefined;
  write(value: T): void;
}

/**
 * Writes the config record and the first key slot, unless a repository exists already.
 * `where` finishes the refusal's sentence ("at /srv/repo").
 */
export function createIn(
  config: Cell<Uint8Array>,
  slots: KeySlotTable,
  record: Uint8Array,
  firstSlot: KeySlot,
  where: string,
): void {
  if (config.read() !== undefined) {
    throw new BlindsyncError("failed", `A repository already exists ${where}`);
  }
  config.write(record);
  slots.insert(firstSlot);
}

export function generationIn(generation: Cell<number>): number {
  return generation.read() ?? 0;
}

/** Counts a prune that deleted blobs; an append-only store refuses. Returns the new value. */
export function bumpGenerationIn(
  generation: Cell<number>,
  appendOnly: boolean,
): number {
  refuseIfAppendOnly(appendOnly, "prune");
  const next = generationIn(generation) + 1;
  generation.write(next);
  return next;
}
