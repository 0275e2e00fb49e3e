import { describe, expect, it } from "vitest";
import type { Snapshot } from "../repo/index.js";
import { planCopy } from "./copy-plan.js";

const id = (byte: number): Uint8Array => new Uint8Array(32).fill(byte);

function snapshot(
  idByte: number,
  seq: number,
  changes: Partial<Snapshot> = {},
): Snapshot {
  return {
    id: id(idByte),
    seq,
    previous: null,
    tree: id(0xee),
    time: `2026-01-0${String(seq)}T00:00:00.000Z`,
    host: "laptop",
    username: "me",
    paths: ["/home/me/docs"],
    tags: [],
    stats: { files: 1, dirs: 1, bytes: 1, blobsAdded: 1, bytesAdded: 1 },
    ...changes,
  };
}

const ids = (snapshots: readonly Snapshot[]): number[] =>
  snapshots.map((one) => one.id[0] as number);

describe("planCopy()", () => {
  const older = snapshot(1, 1);
  const newer = snapshot(2, 2, { tags: ["keep"] });

  it("copies in the source's chain order whatever order they were named in", () => {
    const plan = planCopy([newer, older], []);
    expect(ids(plan.copy)).toEqual([1, 2]);
    expect(plan.skip).toEqual([]);
  });

  it("skips each snapshot the destination holds a copy of, found by the original id it names", () => {
    const copy = snapshot(9, 5, { time: older.time, original: older.id });
    const other = snapshot(8, 6, { ...newer, id: id(8), original: newer.id });
    const plan = planCopy([older, newer], [copy, other]);
    expect(plan.copy).toEqual([]);
    expect(plan.skip.map(({ copy }) => copy.id[0])).toEqual([9, 8]);
  });

  it("copies a snapshot whose copy has the same original id but another time", () => {
    const copy = snapshot(9, 5, { original: older.id });
    expect(ids(planCopy([older], [copy]).copy)).toEqual([1]);
  });

  it("skips a copy being copied back to the repository it came from", () => {
    const copy = snapshot(9, 5, { time: older.time, original: older.id });
    expect(planCopy([copy], [older]).skip).toHaveLength(1);
  });

  it("copies again a snapshot whose tags changed since it was copied, as restic does", () => {
    const copy = snapshot(9, 5, { ...newer, id: id(9), original: newer.id });
    const retagged = { ...newer, tags: ["keep", "yearly"] };
    expect(ids(planCopy([retagged], [copy]).copy)).toEqual([2]);
  });
});
