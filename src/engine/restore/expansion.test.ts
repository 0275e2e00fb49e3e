import { describe, expect, it } from "vitest";
import type { Tree, TreeEntry } from "../../repo/index.js";
import {
  EXPANSION_FACTOR,
  EXPANSION_FLOOR,
  ExpansionBound,
} from "./expansion.js";

/** A tree of `count` entries; the bound only counts them. */
function treeOf(count: number): Tree {
  return { entries: new Array<TreeEntry>(count) };
}

function id(n: number): Uint8Array {
  const bytes = new Uint8Array(32);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

describe("ExpansionBound", () => {
  it("never stops a walk below the floor, however often one tree repeats", () => {
    const bound = new ExpansionBound();
    const tree = treeOf(9);
    // Each count adds 10 entries; one distinct tree of 10.
    for (let walked = 10; walked <= EXPANSION_FLOOR; walked += 10) {
      expect(bound.count(id(1), tree)).toBeUndefined();
    }
    expect(bound.count(id(1), tree)).toMatchObject({ kind: "integrity" });
  });

  it("lets distinct trees walk as far as they go", () => {
    const bound = new ExpansionBound();
    for (let n = 0; n < 5_000; n++) {
      expect(bound.count(id(n), treeOf(10))).toBeUndefined();
    }
  });

  it("stops past the floor once the walk exceeds EXPANSION_FACTOR times the distinct entries", () => {
    const bound = new ExpansionBound();
    // 40 distinct trees of 1 + 299 entries: 12,000 distinct, so the factor allows 12,000,000.
    for (let n = 0; n < 40; n++) bound.count(id(n), treeOf(299));
    const allowed = EXPANSION_FACTOR * 40 * 300;
    let walked = 40 * 300;
    while (walked + 300 <= allowed) {
      expect(bound.count(id(walked % 40), treeOf(299))).toBeUndefined();
      walked += 300;
    }
    const error = bound.count(id(0), treeOf(299));
    expect(error).toMatchObject({ kind: "integrity" });
    expect(error?.message).toContain("from 12000 distinct ones");
  });

  it("stops a forged binary tree of k levels (2^k directories from k trees) after work linear in k", () => {
    const bound = new ExpansionBound();
    const k = 40;
    let counted = 0;
    let stopped = false;
    // Walk depth first: level i's tree has two entries, both naming level i+1's tree.
    const walk = (level: number): void => {
      if (stopped || level === k) return;
      counted++;
      if (bound.count(id(level), treeOf(2)) !== undefined) {
        stopped = true;
        return;
      }
      walk(level + 1);
      walk(level + 1);
    };
    walk(0);
    expect(stopped).toBe(true);
    // k distinct trees of 3 entries allow 3,000·k walked: about 1,000·k trees, not 2^k.
    expect(counted).toBeLessThanOrEqual(EXPANSION_FACTOR * k + 1);
  });

  it("counts trees whose ids share the first 8 bytes as one, which only makes it stricter", () => {
    const loose = new ExpansionBound();
    const strict = new ExpansionBound();
    let looseStopped = -1;
    let strictStopped = -1;
    // 20 distinct trees of one entry each allow 20,000 walked; counted as one tree, 10,000.
    for (let n = 0; n < 30_000; n++) {
      const distinct = id(n % 20);
      const colliding = new Uint8Array(32);
      colliding[31] = n % 20;
      if (looseStopped < 0 && loose.count(distinct, treeOf(0)) !== undefined)
        looseStopped = n;
      if (strictStopped < 0 && strict.count(colliding, treeOf(0)) !== undefined)
        strictStopped = n;
    }
    expect(looseStopped).toBe(20_000);
    expect(strictStopped).toBe(EXPANSION_FLOOR);
  });
});
