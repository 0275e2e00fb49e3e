import { describe, expect, it } from "vitest";
import type { DirEntry, Tree, TreeEntry } from "../../repo/index.js";
import {
  ExpectAhead,
  HINT_AHEAD,
  PRE_HINT,
  TreesAhead,
  type TreeWindow,
} from "./expect-ahead.js";
import type { RestoreRepository } from "./types.js";

let nextId = 0;
function id(): Uint8Array {
  const bytes = new Uint8Array(32);
  new DataView(bytes.buffer).setUint32(0, ++nextId);
  return bytes;
}

function file(blobs: number): TreeEntry {
  return {
    type: "file",
    name: new TextEncoder().encode(`f${nextId}`),
    content: Array.from({ length: blobs }, id),
  } as unknown as TreeEntry;
}

function dir(): DirEntry {
  return {
    type: "dir",
    name: new TextEncoder().encode(`d${nextId}`),
    subtree: id(),
  } as unknown as DirEntry;
}

function blobsOf(entries: readonly TreeEntry[]): Uint8Array[] {
  return entries.flatMap((entry) =>
    entry.type === "file" ? [...entry.content] : [],
  );
}

/** A repository whose trees are `trees` by subtree id, recording every hint. */
function hintRecorder(trees: Map<Uint8Array, Tree>) {
  const hints: Uint8Array[][] = [];
  const repo = {
    expect: (ids: readonly Uint8Array[]) => hints.push([...ids]),
    loadTree: (subtree: Uint8Array) =>
      Promise.resolve(trees.get(subtree) as Tree),
  } as unknown as RestoreRepository;
  return { repo, hints };
}

describe("the walk's read hints", () => {
  it("hints a directory's small files only, HINT_AHEAD ahead of the files it passes", () => {
    const entries = [
      ...Array.from({ length: HINT_AHEAD + 10 }, () => file(1)),
      file(50),
    ];
    const tree = { entries };
    const { repo, hints } = hintRecorder(new Map());
    const ahead = new ExpectAhead(repo, tree, entries);
    expect(hints.flat()).toHaveLength(HINT_AHEAD);
    for (const entry of entries) ahead.passed(entry);
    // Every small file's blob once, in order; the 50-blob file never.
    expect(hints.flat()).toEqual(blobsOf(entries.slice(0, -1)));
  });

  it("loads `ahead` subdirectory trees at a time but hints `hintAhead` of their ids", async () => {
    const children = Array.from({ length: 20 }, dir);
    const trees = new Map<Uint8Array, Tree>(
      children.map((child) => [child.subtree, { entries: [] }]),
    );
    const { repo, hints } = hintRecorder(trees);
    const loaded: Uint8Array[] = [];
    const loadTree = repo.loadTree.bind(repo);
    const counting = {
      ...repo,
      loadTree: (subtree: Uint8Array) => {
        loaded.push(subtree);
        return loadTree(subtree);
      },
    } as RestoreRepository;
    const ahead = new TreesAhead(
      counting,
      children.map((entry) => ({ entry, whole: false })),
      { trees: 2, hinted: 8 },
      true,
    );
    expect(loaded).toEqual(children.slice(0, 2).map((c) => c.subtree));
    expect(hints).toEqual([children.slice(0, 8).map((c) => c.subtree)]);
    for (const child of children.slice(0, 7)) await ahead.take(child);
    // The walk took 7: 9 trees loaded, and the hints still ran ahead of the loads.
    expect(loaded).toHaveLength(9);
    expect(hints.flat()).toEqual(children.slice(0, 16).map((c) => c.subtree));
  });

  it("loads trees ahead within an entry budget, and as many small ones as the tree cap allows", async () => {
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const load = (entriesPerTree: number, window: TreeWindow) => {
      const children = Array.from({ length: 20 }, dir);
      const trees = new Map<Uint8Array, Tree>(
        children.map((child) => [
          child.subtree,
          { entries: Array.from({ length: entriesPerTree }, () => file(1)) },
        ]),
      );
      const loaded: Uint8Array[] = [];
      const repo = {
        loadTree: (subtree: Uint8Array) => {
          loaded.push(subtree);
          return Promise.resolve(trees.get(subtree) as Tree);
        },
      } as unknown as RestoreRepository;
      const ahead = new TreesAhead(
        repo,
        children.map((entry) => ({ entry, whole: false })),
        window,
        false,
      );
      return { ahead, children, loaded };
    };

    // Trees of 100 entries, 300 allowed: two while their size is unknown (128 each), then
    // three once they are known, and one more for each the walk takes.
    const big = load(100, { trees: 64, entries: 300 });
    expect(big.loaded).toHaveLength(2);
    await tick();
    expect(big.loaded).toHaveLength(3);
    await big.ahead.take(big.children[0] as DirEntry);
    await tick();
    expect(big.loaded).toHaveLength(4);

    // Trees of one entry: the cap of 5 trees is what holds them.
    const small = load(1, { trees: 5, entries: 300 });
    await tick();
    await tick();
    expect(small.loaded).toHaveLength(5);
  });

  it("hints a subdirectory's trees and first small files as they load, and the walk of it does not hint them again", async () => {
    const children = Array.from({ length: 3 }, dir);
    const trees = new Map<Uint8Array, Tree>();
    for (const child of children)
      trees.set(child.subtree, {
        entries: Array.from({ length: PRE_HINT + 5 }, () => file(2)),
      });
    const { repo, hints } = hintRecorder(trees);
    const ahead = new TreesAhead(
      repo,
      children.map((entry) => ({ entry, whole: true })),
      { trees: 2 },
      true,
    );
    // The first two trees' ids hinted before they load.
    expect(hints[0]).toEqual([children[0]?.subtree, children[1]?.subtree]);
    const first = (await ahead.take(children[0] as DirEntry)) as Tree;
    await new Promise((resolve) => setImmediate(resolve));
    const blobs = blobsOf(first.entries);
    const hinted = hints.flat();
    expect(hinted).toEqual(
      expect.arrayContaining(blobs.slice(0, 2 * PRE_HINT)),
    );
    expect(hinted).not.toContain(blobs[2 * PRE_HINT]);
    // Walking the first subdirectory hints only its files beyond the first PRE_HINT.
    const before = hints.length;
    new ExpectAhead(repo, first, first.entries);
    expect(hints.slice(before).flat()).toEqual(blobs.slice(2 * PRE_HINT));
  });
});
