import { describe, expect, it } from "vitest";
import { BlindsyncError } from "../../errors.js";
import type { KeySlot } from "../store.js";
import {
  addKeySlotIn,
  bumpGenerationIn,
  createIn,
  deleteIn,
  generationIn,
  listKeySlotsIn,
  putIn,
  removeKeySlotIn,
  removeLocksIn,
  type BlobTable,
  type Cell,
  type KeySlotTable,
  type LockTable,
} from "./index.js";

/** Tables that fail on any use: a rule that refuses must refuse before it reads or writes. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the table type the rule asks for
const untouchable = <T extends object>(): T =>
  new Proxy({} as T, {
    get: (_target, member) => () => {
      throw new Error(`the rule used ${String(member)} before refusing`);
    },
  });

function kindOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof BlindsyncError) return error.kind;
    throw error;
  }
  return undefined;
}

function slotTable(slots = new Map<string, Uint8Array>()): KeySlotTable {
  return {
    all: () => [...slots].map(([name, bytes]) => ({ name, bytes })),
    has: (name) => slots.has(name),
    count: () => slots.size,
    insert: (slot) => slots.set(slot.name, slot.bytes),
    remove: (name) => slots.delete(name),
  };
}

function memoryCell<T>(value?: T): Cell<T> & { value: T | undefined } {
  return {
    value,
    read() {
      return this.value;
    },
    write(next) {
      this.value = next;
    },
  };
}

const slot = (name: string): KeySlot => ({ name, bytes: Uint8Array.of(1) });

describe("store rules", () => {
  it("an append-only store refuses before touching any record", () => {
    expect(
      kindOf(() => {
        deleteIn(untouchable<BlobTable>(), [], true);
      }),
    ).toBe("append-only");
    expect(
      kindOf(() => {
        removeKeySlotIn(untouchable<KeySlotTable>(), "a", true);
      }),
    ).toBe("append-only");
    expect(
      kindOf(() => bumpGenerationIn(untouchable<Cell<number>>(), true)),
    ).toBe("append-only");
    expect(
      kindOf(() => removeLocksIn(untouchable<LockTable>(), true, true, 0)),
    ).toBe("append-only");
  });

  it("create writes the config and first slot once, and a second create changes nothing", () => {
    const config = memoryCell<Uint8Array>();
    const slots = new Map<string, Uint8Array>();
    createIn(config, slotTable(slots), Uint8Array.of(7), slot("a"), "here");
    expect(() => {
      createIn(config, slotTable(slots), Uint8Array.of(8), slot("b"), "here");
    }).toThrow("A repository already exists here");
    expect([config.value, [...slots.keys()]]).toEqual([
      Uint8Array.of(7),
      ["a"],
    ]);
  });

  it("key slots are never overwritten, and the last one stays", () => {
    const slots = new Map([["a", Uint8Array.of(1)]]);
    const table = slotTable(slots);
    expect(
      kindOf(() => {
        addKeySlotIn(table, { name: "a", bytes: Uint8Array.of(2) });
      }),
    ).toBe("failed");
    expect(
      kindOf(() => {
        removeKeySlotIn(table, "a", false);
      }),
    ).toBe("failed");
    expect(
      kindOf(() => {
        removeKeySlotIn(table, "b", false);
      }),
    ).toBe("not-found");
    expect(slots.get("a")).toEqual(Uint8Array.of(1));
    addKeySlotIn(table, slot("\u{1f511}"));
    addKeySlotIn(table, slot("\uffee"));
    expect(listKeySlotsIn(table).map((listed) => listed.name)).toEqual([
      "a",
      "\uffee",
      "\u{1f511}",
    ]);
  });

  it("the generation starts at 0 and moves one step at a time", () => {
    const generation = memoryCell<number>();
    expect(generationIn(generation)).toBe(0);
    expect(bumpGenerationIn(generation, false)).toBe(1);
    expect(bumpGenerationIn(generation, false)).toBe(2);
    expect(generationIn(generation)).toBe(2);
  });

  it("a put stores only ids the table lacks, and checks the whole batch first", () => {
    const stored: string[] = [];
    const table: BlobTable = {
      has: (id) => stored.includes(String(id[0])),
      insert: (blob) => stored.push(String(blob.id[0])),
      remove: () => undefined,
    };
    const blob = (first: number, length = 32) => ({
      id: new Uint8Array(length).fill(first),
      kind: "data" as const,
      bytes: Uint8Array.of(first),
    });
    putIn(table, [blob(1), blob(2), blob(1)]);
    expect(stored).toEqual(["1", "2"]);
    expect(() => {
      putIn(table, [blob(3), blob(4, 31)]);
    }).toThrow(RangeError);
    expect(stored).toEqual(["1", "2"]);
  });
});
