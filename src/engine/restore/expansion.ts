/**
 * The bound on how far shared subtrees may expand. A backup stores an unchanged directory once
 * however often it occurs (two copies of a directory, thousands of empty directories share one
 * tree), so a restore legitimately walks more entries than the distinct trees hold; but a tree
 * whose entries all name one subtree, nested k deep, expands 2^k times from k small blobs. A
 * restore stops once it has walked more than EXPANSION_FLOOR entries and more than
 * EXPANSION_FACTOR times the entries of the distinct trees it has seen (each tree counts one plus
 * its entries). An honest snapshot walks past that only when, on average, every distinct entry
 * recurs a thousand times: a backup of a disk of dated copies (a year of daily copies of one
 * home directory recurs about 365 times) stays well inside, copies nested in copies can leave
 * it. A forged snapshot stops after work linear in what the forger stored (the 2^40 directories
 * of 41 binary trees after about 40,000). Trees are loaded by keyed id, so a cycle would need
 * an HMAC fixed point; the bound would stop one anyway.
 */
import { BlindsyncError } from "../../errors.js";
import type { Tree } from "../../repo/index.js";
import { nameKey } from "../fs-names.js";

export const EXPANSION_FLOOR = 10_000;
export const EXPANSION_FACTOR = 1_000;

export class ExpansionBound {
  /** Trees seen so far, by the first 8 bytes of their id. */
  private readonly seenTrees = new Set<string>();
  private distinctEntries = 0;
  private walkedEntries = 0;

  /**
   * Counts a tree about to be walked; the error to stop the restore with once shared subtrees
   * have expanded past the bound. Ids are compared by their first 8 bytes: a collision can only
   * make two trees count as one, which makes the bound stricter, never looser.
   */
  count(id: Uint8Array, tree: Tree): BlindsyncError | undefined {
    const size = 1 + tree.entries.length;
    this.walkedEntries += size;
    const key = nameKey(id.subarray(0, 8));
    if (!this.seenTrees.has(key)) {
      this.seenTrees.add(key);
      this.distinctEntries += size;
    }
    if (
      this.walkedEntries > EXPANSION_FLOOR &&
      this.walkedEntries > EXPANSION_FACTOR * this.distinctEntries
    ) {
      return new BlindsyncError(
        "integrity",
        `Restore stopped: the snapshot's directory trees expand to more than ${this.walkedEntries} entries ` +
          `from ${this.distinctEntries} distinct ones, which no backup makes (a forged snapshot that repeats subtrees)`,
        {
          hint: "The files restored so far were verified. Restore another snapshot, and forget this one",
        },
      );
    }
    return undefined;
  }
}
