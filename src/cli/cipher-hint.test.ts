import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClientCache, readConnectionHints } from "../repo/index.js";
import { CachedCipherHint } from "./cipher-hint.js";

const KEY = "ssh://host/repo";
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "blindsync-cipher-hint-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function saveThrough(hint: CachedCipherHint): void {
  const cache = ClientCache.open(root, KEY);
  try {
    hint.saveTo(cache);
  } finally {
    cache.close();
  }
}

describe("CachedCipherHint", () => {
  it("reads nothing and creates nothing until it is asked, and knows nothing in an empty cache", () => {
    const hint = CachedCipherHint.of(root, KEY);
    expect(readdirSync(root)).toEqual([]);
    expect(hint.earlier()).toBeUndefined();
    expect(readdirSync(root)).toEqual([]);
  });

  it("saves what the server said only when told, for the next connection to read", () => {
    const first = CachedCipherHint.of(root, KEY);
    first.heard(true);
    expect(readConnectionHints(root, KEY).serverHasAes).toBeUndefined();
    saveThrough(first);
    expect(CachedCipherHint.of(root, KEY).earlier()).toBe(true);

    const second = CachedCipherHint.of(root, KEY);
    second.heard(false);
    saveThrough(second);
    expect(CachedCipherHint.of(root, KEY).earlier()).toBe(false);
    // Another location keeps its own answer.
    expect(CachedCipherHint.of(root, "ssh://other/repo").earlier()).toBe(
      undefined,
    );
  });

  it("leaves the saved answer alone when this connection said nothing", () => {
    const told = CachedCipherHint.of(root, KEY);
    told.heard(true);
    saveThrough(told);
    saveThrough(CachedCipherHint.of(root, KEY));
    expect(readConnectionHints(root, KEY).serverHasAes).toBe(true);
  });

  it("answers from hints read already instead of reading the cache again", () => {
    const hint = CachedCipherHint.of(root, KEY, {
      keySlot: undefined,
      serverHasAes: true,
    });
    expect(hint.earlier()).toBe(true);
  });
});
