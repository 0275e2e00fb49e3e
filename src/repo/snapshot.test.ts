import { describe, expect, it } from "vitest";
import {
  decodeSnapshot,
  encodeSnapshot,
  headOf,
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

function snapshot(idByte: number, seq: number, time: string): Snapshot {
  return { ...record, id: new Uint8Array(32).fill(idByte), seq, time };
}

describe("snapshot records", () => {
  it("decodeSnapshot(encodeSnapshot(record)) returns the record with its id", () => {
    const id = new Uint8Array(32).fill(9);
    expect(decodeSnapshot(id, encodeSnapshot(record))).toEqual({
      ...record,
      id,
    });
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
});
