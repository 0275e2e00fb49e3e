import { describe, expect, it } from "vitest";
import { collectGarbage, GarbageBudget } from "./garbage-budget.js";

describe("GarbageBudget", () => {
  it("collects once per budget of dropped bytes, not per drop", () => {
    let collections = 0;
    const budget = new GarbageBudget(100, "minor", () => {
      collections += 1;
    });
    for (let drop = 0; drop < 25; drop++) budget.dropped(10);
    expect(collections).toBe(2);
    expect(budget.collections).toBe(2);
    expect(budget.pending).toBe(50);
    budget.dropped(1000);
    expect(collections).toBe(3);
    expect(budget.pending).toBe(0);
  });
});

describe("collectGarbage()", () => {
  it("reaches V8's collector without --expose-gc on the command line", async () => {
    expect(collectGarbage("minor")).toBe(true);
    // A dropped buffer is freed by the collections it asks for: its finalizer runs.
    const state = { finalized: false };
    const registry = new FinalizationRegistry(() => {
      state.finalized = true;
    });
    (() => {
      registry.register(new Uint8Array(1024 * 1024), "dropped");
    })();
    for (let attempt = 0; attempt < 20 && !state.finalized; attempt++) {
      expect(collectGarbage("major")).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(state.finalized).toBe(true);
  });
});
