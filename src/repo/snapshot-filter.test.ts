import { describe, expect, it } from "vitest";
import { BlindsyncError } from "../errors.js";
import {
  describeFilter,
  isEmptyFilter,
  matchesFilter,
  parseSnapshotFilter,
  selectSnapshot,
  sourceSets,
  NO_FILTER,
  type FilterFlags,
} from "./snapshot-filter.js";
import type { Snapshot } from "./snapshot.js";
import { toHex } from "../util/bytes.js";

let next = 1;
function snap(
  host: string,
  paths: string[],
  tags: string[] = [],
  seq = next,
): Snapshot {
  const idByte = next++;
  return {
    id: new Uint8Array(32).fill(idByte),
    seq,
    previous: null,
    tree: new Uint8Array(32).fill(200),
    time: `2026-01-01T00:00:${String(idByte).padStart(2, "0")}.000Z`,
    host,
    username: "me",
    paths,
    tags,
    stats: { files: 0, dirs: 0, bytes: 0, blobsAdded: 0, bytesAdded: 0 },
  };
}

const picks = (flags: FilterFlags, snapshot: Snapshot) =>
  matchesFilter(parseSnapshotFilter(flags, "/cwd"), snapshot);

describe("matchesFilter (restic's rules)", () => {
  const docs = snap(
    "laptop",
    ["/home/me/docs", "/home/me/mail"],
    ["daily", "home"],
  );

  it("picks everything without a filter", () => {
    expect(isEmptyFilter(parseSnapshotFilter({}))).toBe(true);
    expect(picks({}, docs)).toBe(true);
  });

  it("ORs hosts", () => {
    expect(picks({ host: ["server", "laptop"] }, docs)).toBe(true);
    expect(picks({ host: ["server"] }, docs)).toBe(false);
  });

  it("needs every given path among the snapshot's, compared exactly", () => {
    expect(picks({ path: ["/home/me/docs"] }, docs)).toBe(true);
    expect(picks({ path: ["/home/me/docs", "/home/me/mail"] }, docs)).toBe(
      true,
    );
    expect(picks({ path: ["/home/me/docs", "/srv"] }, docs)).toBe(false);
    expect(picks({ path: ["/home/me"] }, docs)).toBe(false);
    expect(picks({ path: ["/home/me/docs/sub"] }, docs)).toBe(false);
  });

  it("makes given paths absolute and clean first", () => {
    expect(picks({ path: ["/home/me/docs/"] }, docs)).toBe(true);
    expect(picks({ path: ["/home/me/x/../docs"] }, docs)).toBe(true);
    const relative = snap("laptop", ["/cwd/notes"]);
    expect(picks({ path: ["notes"] }, relative)).toBe(true);
  });

  it("ANDs the tags of one --tag list and ORs the lists", () => {
    expect(picks({ tag: ["daily,home"] }, docs)).toBe(true);
    expect(picks({ tag: ["daily,work"] }, docs)).toBe(false);
    expect(picks({ tag: ["daily,work", "home"] }, docs)).toBe(true);
    expect(picks({ tag: ["work", "manual"] }, docs)).toBe(false);
  });

  it('picks untagged snapshots with --tag ""', () => {
    expect(picks({ tag: [""] }, docs)).toBe(false);
    expect(picks({ tag: [""] }, snap("laptop", ["/x"]))).toBe(true);
  });

  it("ANDs the kinds", () => {
    expect(
      picks({ host: ["laptop"], path: ["/home/me/docs"], tag: ["home"] }, docs),
    ).toBe(true);
    expect(
      picks({ host: ["laptop"], path: ["/home/me/docs"], tag: ["work"] }, docs),
    ).toBe(false);
    expect(picks({ host: ["server"], path: ["/home/me/docs"] }, docs)).toBe(
      false,
    );
  });

  it("describes itself as the options that give it", () => {
    const filter = parseSnapshotFilter(
      { host: ["a b"], path: ["/x"], tag: ["t,u"] },
      "/",
    );
    expect(describeFilter(filter)).toBe("--host 'a b' --path /x --tag t,u");
  });
});

describe("selectSnapshot", () => {
  const a1 = snap("laptop", ["/a"], [], 1);
  const b = snap("laptop", ["/b"], [], 2);
  const a2 = snap("laptop", ["/a"], ["late"], 3);
  const all = [a1, b, a2];

  it("takes latest in chain order among the matches", () => {
    const filter = parseSnapshotFilter({ path: ["/b"] });
    expect(selectSnapshot(all, "latest", filter)).toBe(b);
    expect(selectSnapshot(all, "latest", NO_FILTER)).toBe(a2);
  });

  it("takes a named id as named, whatever the filter", () => {
    const filter = parseSnapshotFilter({ path: ["/b"] });
    expect(selectSnapshot(all, toHex(a1.id).slice(0, 6), filter)).toBe(a1);
  });

  it("says which filter matched nothing", () => {
    const filter = parseSnapshotFilter({ host: ["server"] });
    expect(() => selectSnapshot(all, "latest", filter)).toThrow(
      /No snapshot matches --host server/,
    );
    try {
      selectSnapshot(all, "latest", filter);
    } catch (error) {
      expect((error as BlindsyncError).kind).toBe("not-found");
    }
  });
});

describe("sourceSets", () => {
  it("finds one set per host and paths, each with its latest and the options that pick it", () => {
    const a1 = snap("laptop", ["/a"], [], 10);
    const b = snap("laptop", ["/b"], [], 11);
    const a2 = snap("laptop", ["/a"], [], 12);
    const other = snap("server", ["/a"], [], 13);
    const sets = sourceSets([a1, b, a2, other]);
    expect(
      sets.map((set) => [set.host, set.paths, set.latest, set.flags]),
    ).toEqual([
      ["laptop", ["/b"], b, "--host laptop --path /b"],
      ["laptop", ["/a"], a2, "--host laptop --path /a"],
      ["server", ["/a"], other, "--host server --path /a"],
    ]);
    // Each set's options pick that set alone.
    for (const set of sets) {
      const filter = parseSnapshotFilter(
        { host: [set.host], path: [...set.paths] },
        "/",
      );
      expect(sourceSets([a1, b, a2, other], filter)).toHaveLength(1);
    }
  });

  it("names a set by id when its paths are part of another set's", () => {
    const one = snap("laptop", ["/a"], [], 20);
    const two = snap("laptop", ["/a", "/b"], [], 21);
    const sets = sourceSets([one, two]);
    expect(sets.map((set) => set.flags)).toEqual([
      `--snapshot ${toHex(one.id).slice(0, 8)}`,
      "--host laptop --path /a --path /b",
    ]);
  });

  it("counts paths in any order as one set, and only what the filter picks", () => {
    const x = snap("laptop", ["/a", "/b"], ["t"], 30);
    const y = snap("laptop", ["/b", "/a"], [], 31);
    const z = snap("laptop", ["/c"], ["t"], 32);
    expect(sourceSets([x, y, z])).toHaveLength(2);
    expect(sourceSets([x, y], NO_FILTER)).toHaveLength(1);
    expect(
      sourceSets([x, y, z], parseSnapshotFilter({ tag: ["t"] })),
    ).toHaveLength(2);
    expect(
      sourceSets([x, y, z], parseSnapshotFilter({ path: ["/c"] })),
    ).toHaveLength(1);
  });
});
