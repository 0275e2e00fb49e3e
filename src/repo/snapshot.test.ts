import { describe, expect, it } from "vitest";
import {
  assessChain,
  chainFrom,
  decodeSnapshot,
  encodeSnapshot,
  headOf,
  latestOf,
  MAX_SEQ,
  MAX_SEQ_STEP,
  resolveSnapshot,
  type Snapshot,
  type SnapshotRecord,
} from "./snapshot.js";

const record: SnapshotRecord = {
  seq: 3,
  previous: new Uint8Array(32).fill(1),
  tree: new Uint8Array(32).fill(2),
  time: "2026-01-02T03:04:05.678Z",
  host: "laptop",
  username: "me",
  paths: ["/home/me/docs"],
  tags: ["daily"],
  stats: { files: 10, dirs: 2, bytes: 1234, blobsAdded: 3, bytesAdded: 999 },
  root: {
    mode: 0o755,
    mtimeNs: 1_700_000_000_123_456_789n,
    uid: 1000,
    gid: 1000,
  },
};

function snapshot(
  idByte: number,
  seq: number,
  time: string,
  previous: number | null = null,
): Snapshot {
  return {
    ...record,
    id: new Uint8Array(32).fill(idByte),
    seq,
    time,
    previous: previous === null ? null : new Uint8Array(32).fill(previous),
  };
}

const idByteOf = (found: Snapshot | undefined): number | undefined =>
  found?.id[0];

describe("snapshot records", () => {
  it("decodeSnapshot(encodeSnapshot(record)) returns the record with its id", () => {
    const id = new Uint8Array(32).fill(9);
    expect(decodeSnapshot(id, encodeSnapshot(record))).toEqual({
      ...record,
      id,
    });
  });

  it("a copied snapshot's original id round-trips, and a record without one encodes no such key", () => {
    const id = new Uint8Array(32).fill(9);
    const copied = { ...record, original: new Uint8Array(32).fill(7) };
    expect(decodeSnapshot(id, encodeSnapshot(copied))).toEqual({
      ...copied,
      id,
    });
    const text = new TextDecoder().decode(encodeSnapshot(copied));
    expect(text.endsWith(`,"original":"${"07".repeat(32)}"}`)).toBe(true);
    expect(new TextDecoder().decode(encodeSnapshot(record))).not.toContain(
      "original",
    );
  });

  it("decodeSnapshot() rejects a record whose original is not an id", () => {
    const bytes = new TextEncoder().encode(
      new TextDecoder()
        .decode(encodeSnapshot(record))
        .replace(/}$/, ',"original":"zz"}'),
    );
    expect(() => decodeSnapshot(new Uint8Array(32), bytes)).toThrow(
      /original is not an id/,
    );
  });

  it("decodeSnapshot() rejects a record whose tree is not an id", () => {
    const bytes = new TextEncoder().encode(
      new TextDecoder()
        .decode(encodeSnapshot(record))
        .replace(/"tree":"[0-9a-f]+"/, '"tree":"zz"'),
    );
    expect(() => decodeSnapshot(new Uint8Array(32), bytes)).toThrow(
      /tree is not an id/,
    );
  });

  it('resolveSnapshot() finds "latest", a full id and a unique prefix', () => {
    const list = [
      snapshot(0xab, 1, "2026-01-01T00:00:00.000Z"),
      snapshot(0xcd, 2, "2026-01-02T00:00:00.000Z"),
    ];
    expect(resolveSnapshot(list, "latest").seq).toBe(2);
    expect(resolveSnapshot(list, "ab").seq).toBe(1);
    expect(resolveSnapshot(list, "cd".repeat(32)).seq).toBe(2);
  });

  it("resolveSnapshot() names an unknown or ambiguous id clearly", () => {
    const list = [
      snapshot(0xab, 1, "2026-01-01T00:00:00.000Z"),
      snapshot(0xac, 2, "2026-01-02T00:00:00.000Z"),
    ];
    expect(() => resolveSnapshot(list, "ff")).toThrow(
      /No snapshot matches "ff"/,
    );
    expect(() => resolveSnapshot(list, "a")).toThrow(/ambiguous/);
    expect(() => resolveSnapshot(list, "xyz")).toThrow(/not a snapshot id/);
    expect(() => resolveSnapshot([], "latest")).toThrow(/no snapshots/);
  });

  it("headOf() picks the highest sequence number, not the newest time", () => {
    const list = [
      snapshot(1, 5, "2020-01-01T00:00:00.000Z"),
      snapshot(2, 4, "2026-01-01T00:00:00.000Z"),
    ];
    expect(headOf(list)?.seq).toBe(5);
  });

  it('resolveSnapshot("latest") follows the chain, not a claimed time far in the future', () => {
    const list = [
      snapshot(1, 1, "2099-01-01T00:00:00.000Z"),
      snapshot(2, 2, "2026-01-02T00:00:00.000Z", 1),
    ];
    expect(idByteOf(resolveSnapshot(list, "latest"))).toBe(2);
    expect(idByteOf(headOf(list))).toBe(2);
  });

  it("headOf() and latest break a tie of sequence numbers by time, then id", () => {
    const forkA = snapshot(0xa0, 2, "2026-01-02T00:00:00.000Z", 1);
    const forkB = snapshot(0x0b, 2, "2026-01-03T00:00:00.000Z", 1);
    const forkC = snapshot(0x0c, 2, "2026-01-03T00:00:00.000Z", 1);
    const base = snapshot(1, 1, "2026-01-01T00:00:00.000Z");
    for (const order of [
      [base, forkA, forkB, forkC],
      [forkC, forkB, base, forkA],
    ]) {
      expect(idByteOf(headOf(order))).toBe(0x0c);
      expect(idByteOf(resolveSnapshot(order, "latest"))).toBe(0x0c);
    }
  });

  it("assessChain() sets aside a snapshot whose sequence number jumps to MAX_SEQ, and the head stays the honest one", () => {
    const honest = [
      snapshot(1, 1, "2026-01-01T00:00:00.000Z"),
      snapshot(2, 2, "2026-01-02T00:00:00.000Z", 1),
    ];
    const forged = snapshot(0xee, MAX_SEQ, "2026-01-03T00:00:00.000Z", 2);
    const list = [...honest, forged];
    const { chain, suspicious } = assessChain(list);
    expect(chain.map((s) => s.id[0])).toEqual([1, 2]);
    expect(suspicious.map((s) => s.snapshot.id[0])).toEqual([0xee]);
    expect(suspicious[0]?.reason).toMatch(/jumps from 2/);
    expect(idByteOf(headOf(list))).toBe(2);
    expect(idByteOf(resolveSnapshot(list, "latest"))).toBe(2);
    // Still reachable by its id: it was written with the keys.
    expect(idByteOf(resolveSnapshot(list, "ee"))).toBe(0xee);
  });

  it("assessChain() keeps the gaps forget leaves, up to MAX_SEQ_STEP, and sets aside a bigger one", () => {
    const kept = [
      snapshot(1, MAX_SEQ_STEP, "2026-01-01T00:00:00.000Z", 0x99),
      snapshot(2, 2 * MAX_SEQ_STEP, "2026-01-02T00:00:00.000Z", 0x98),
      snapshot(3, 2 * MAX_SEQ_STEP + 1, "2026-01-03T00:00:00.000Z", 2),
    ];
    expect(assessChain(kept).suspicious).toEqual([]);
    const tooFar = snapshot(
      4,
      3 * MAX_SEQ_STEP + 2,
      "2026-01-04T00:00:00.000Z",
    );
    expect(
      assessChain([...kept, tooFar]).suspicious.map((s) => s.snapshot.id[0]),
    ).toEqual([4]);
    const firstTooHigh = snapshot(
      5,
      MAX_SEQ_STEP + 1,
      "2026-01-01T00:00:00.000Z",
    );
    expect(assessChain([firstTooHigh]).chain).toEqual([]);
  });

  it("assessChain() sets aside sequence number 0 and one not above the snapshot it follows", () => {
    const list = [
      snapshot(1, 1, "2026-01-01T00:00:00.000Z"),
      snapshot(2, 2, "2026-01-02T00:00:00.000Z", 1),
      snapshot(3, 2, "2026-01-03T00:00:00.000Z", 2),
      snapshot(4, 0, "2026-01-04T00:00:00.000Z"),
    ];
    const { suspicious } = assessChain(list);
    expect(suspicious.map((s) => s.snapshot.id[0]).sort()).toEqual([3, 4]);
    expect(idByteOf(headOf(list))).toBe(2);
  });

  it("latestOf() picks among the matching snapshots, judged against all of them", () => {
    const list = [
      snapshot(1, 1, "2026-01-01T00:00:00.000Z"),
      snapshot(2, 2, "2026-01-02T00:00:00.000Z", 1),
      snapshot(3, MAX_SEQ, "2099-01-01T00:00:00.000Z", 2),
    ];
    expect(idByteOf(latestOf(list, (s) => s.id[0] !== 2))).toBe(1);
    expect(() => resolveSnapshot(list, "latest", (s) => s.id[0] === 3)).toThrow(
      /no latest one/,
    );
  });

  it("chainFrom() walks previous ids back from the head and stops at a gap", () => {
    const list = [
      snapshot(1, 1, "2026-01-01T00:00:00.000Z"),
      snapshot(3, 3, "2026-01-03T00:00:00.000Z", 2),
      snapshot(4, 4, "2026-01-04T00:00:00.000Z", 3),
      snapshot(5, 4, "2026-01-05T00:00:00.000Z", 3),
    ];
    const head = list[2] as Snapshot;
    expect(chainFrom(head, list).map((s) => s.id[0])).toEqual([4, 3]);
  });

  it("encodeSnapshot() refuses a sequence number past MAX_SEQ instead of writing one no reader accepts", () => {
    expect(() => encodeSnapshot({ ...record, seq: MAX_SEQ + 1 })).toThrow(
      /out of range/,
    );
    expect(() => encodeSnapshot({ ...record, seq: 0 })).toThrow(/out of range/);
    expect(
      decodeSnapshot(
        new Uint8Array(32),
        encodeSnapshot({ ...record, seq: MAX_SEQ }),
      ).seq,
    ).toBe(MAX_SEQ);
  });
});
