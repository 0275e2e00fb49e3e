import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSnapshots } from "../../src/cli/commands/browse.js";
import { toHex } from "../../src/util/bytes.js";
import { freshRepository, sharedRepository } from "./command-context.js";

describe("freshRepository()", () => {
  const fresh = freshRepository({ source: { "sub/b.txt": "beta\n" } });
  const seen: string[] = [];

  it("gives a test its own directory with the source written and no repository unless asked", () => {
    seen.push(fresh.dir);
    expect(readFileSync(join(fresh.source, "sub", "b.txt"), "utf8")).toBe(
      "beta\n",
    );
    expect(fresh.repository).toBe(join(fresh.dir, "repo"));
    expect(existsSync(fresh.repository)).toBe(false);
    expect(fresh.ids).toEqual([]);
  });

  it("gives the next test another directory, the last one removed", () => {
    seen.push(fresh.dir);
    expect(seen[1]).not.toBe(seen[0]);
    expect(existsSync(seen[0]!)).toBe(false);
  });
});

describe("freshRepository({ init: true })", () => {
  const fresh = freshRepository({ init: true });

  it("makes an empty repository the context opens", async () => {
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toEqual([]);
  });
});

describe("sharedRepository()", () => {
  const shared = sharedRepository([{ "a.txt": "one\n" }, { "a.txt": "two\n" }]);
  const seen: string[] = [];

  it("backs up each version in turn, the source left at the last", async () => {
    seen.push(shared.dir);
    const listed = await runSnapshots(shared.context.with(), shared.repository);
    expect(shared.ids).toHaveLength(2);
    expect(listed.map((snapshot) => toHex(snapshot.id))).toEqual(shared.ids);
    expect(readFileSync(join(shared.source, "a.txt"), "utf8")).toBe("two\n");
  });

  it("is the same repository in every test of the file", () => {
    expect(shared.dir).toBe(seen[0]);
  });
});

describe("a fixture read outside a test", () => {
  const fresh = freshRepository();

  it("answers inside a test", () => {
    expect(fresh.dir).toBeTypeOf("string");
  });

  // Read here, at collection time, before any hook has run.
  const outside = (() => {
    try {
      return fresh.repository;
    } catch (error) {
      return error;
    }
  })();

  it("throws when read outside one (here, at collection time)", () => {
    expect(outside).toBeInstanceOf(Error);
    expect((outside as Error).message).toBe(
      "A command fixture is read outside the tests it serves",
    );
  });
});
