/**
 * The small records of a pack repository, none of which needs a key: the config record, key
 * slots (keys/NAME) and the prune generation (generation/N). Each is written whole and never
 * overwritten; the rules (store/rules) run over what a listing shows, and what they write or
 * remove is then done on storage. Storage cannot make two writes one transaction, so where the
 * SQLite store is atomic this is "check, then write" (create, addKeySlot): two clients racing
 * on the same name is the one window, and both come from people holding the repository.
 */
import { BlindsyncError } from "../../errors.js";
import type { ObjectStore } from "../objects/index.js";
import {
  addKeySlotIn,
  bumpGenerationIn,
  createIn,
  generationIn,
  listKeySlotsIn,
  removeKeySlotIn,
  type KeySlotTable,
} from "../rules/index.js";
import type { KeySlot } from "../store.js";
import {
  CONFIG_NAME,
  GENERATION_PREFIX,
  KEYS_PREFIX,
  generationName,
  generationOf,
  keySlotNameOf,
  keySlotObjectName,
} from "./layout.js";

export class PackRecords {
  readonly #objects: ObjectStore;
  readonly #appendOnly: boolean;

  constructor(objects: ObjectStore, appendOnly: boolean) {
    this.#objects = objects;
    this.#appendOnly = appendOnly;
  }

  async readConfig(): Promise<Uint8Array> {
    try {
      return await this.#objects.get(CONFIG_NAME);
    } catch (error) {
      if (error instanceof BlindsyncError && error.kind === "not-found")
        throw new BlindsyncError(
          "no-repository",
          `No repository at ${this.#objects.where}`,
          { hint: "Create one with: blindsync init" },
        );
      throw error;
    }
  }

  /** The first key slot, then the config: a repository never exists without a slot. */
  async create(config: Uint8Array, firstSlot: KeySlot): Promise<void> {
    const exists = (await this.#objects.stat(CONFIG_NAME)) !== undefined;
    const writes: (() => Promise<void>)[] = [];
    const slots = new Map<string, KeySlot>();
    createIn(
      {
        read: () => (exists ? new Uint8Array(0) : undefined),
        write: (record) => {
          writes.push(() => this.#objects.put(CONFIG_NAME, record));
        },
      },
      slotTable(slots),
      config.slice(),
      firstSlot,
      `at ${this.#objects.where}`,
    );
    const name = keySlotObjectName(firstSlot.name);
    if ((await this.#objects.stat(name)) === undefined)
      await this.#objects.put(name, firstSlot.bytes);
    for (const write of writes) await write();
  }

  async listKeySlots(): Promise<KeySlot[]> {
    return listKeySlotsIn(slotTable(await this.#slots()));
  }

  async addKeySlot(slot: KeySlot): Promise<void> {
    const name = keySlotObjectName(slot.name);
    const slots = new Map<string, KeySlot>();
    if ((await this.#objects.stat(name)) !== undefined)
      slots.set(slot.name, slot);
    addKeySlotIn(slotTable(slots), slot);
    await this.#objects.put(name, slot.bytes);
  }

  async removeKeySlot(name: string): Promise<void> {
    const slots = await this.#slots();
    removeKeySlotIn(slotTable(slots), name, this.#appendOnly);
    await this.#objects.delete(keySlotObjectName(name));
  }

  async generation(): Promise<number> {
    let largest: number | undefined;
    for await (const info of this.#objects.list(GENERATION_PREFIX)) {
      const generation = generationOf(info.name);
      if (generation !== undefined && generation > (largest ?? -1))
        largest = generation;
    }
    return generationIn({ read: () => largest, write: () => undefined });
  }

  /** Writes generation/N+1; earlier ones stay, so no object is ever overwritten. */
  async bumpGeneration(): Promise<number> {
    const current = await this.generation();
    const next = bumpGenerationIn(
      { read: () => current, write: () => undefined },
      this.#appendOnly,
    );
    await this.#objects.put(generationName(next), new Uint8Array(0));
    return next;
  }

  async #slots(): Promise<Map<string, KeySlot>> {
    const slots = new Map<string, KeySlot>();
    for await (const info of this.#objects.list(KEYS_PREFIX)) {
      const name = keySlotNameOf(info.name);
      if (name === undefined) continue;
      try {
        slots.set(name, { name, bytes: await this.#objects.get(info.name) });
      } catch (error) {
        // Removed between the listing and the read.
        if (!(error instanceof BlindsyncError && error.kind === "not-found"))
          throw error;
      }
    }
    return slots;
  }
}

/** The rules' KeySlotTable over slots read a moment ago; writes happen on storage after. */
function slotTable(slots: Map<string, KeySlot>): KeySlotTable {
  return {
    all: () => [...slots.values()],
    has: (name) => slots.has(name),
    count: () => slots.size,
    insert: (slot) => slots.set(slot.name, slot),
    remove: (name) => slots.delete(name),
  };
}
