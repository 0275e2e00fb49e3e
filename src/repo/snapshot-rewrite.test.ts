import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BlindsyncError } from "../errors.js";
import { bytesEqual, toHex } from "../util/bytes.js";
import type { Pin } from "./cache/pin.js";
import { checkHead } from "./pin-check.js";
import { encodeSnapshot, headOf, latestOf, type Snapshot } from "./snapshot.js";
import { MemoryStore } from "../store/index.js";
import { Repository } from "./repository.js";
import {
  applySnapshotChanges,
  planSnapshotChanges,
  type RewritePlan,
} from "./snapshot-rewrite.js";

function make(
  idByte: number,
  seq: number,
  previous: Snapshot | null,
  second: number,
  tags: string[] = [],
): Snapshot {
  return {
    id: new Uint8Array(32).fill(idByte),
    seq,
    previous: previous?.id ?? null,
    tree: new Uint8Array(32).fill(100 + idByte),
    time: `2026-01-01T00:00:${String(second).padStart(2, "0")}.000Z`,
    host: "laptop",
    username: "me",
    paths: ["/home/me"],
    tags,
    stats: { files: 0, dirs: 0, bytes: 0, blobsAdded: 0, bytesAdded: 0 },
  };
}

/** A history: s1 <- s2 <- s3 (the head) and t3, a concurrent backup's record beside s3. */
function history() {
  const s1 = make(1, 1, null, 1);
  const s2 = make(2, 2, s1, 2);
  const t3 = make(3, 3, s2, 3);
  const s3 = make(4, 3, s2, 4);
  return { s1, s2, t3, s3, all: [s1, s2, t3, s3] };
}

/** What the repository shows once the plan is applied (ids as the repository makes them). */
function applied(
  snapshots: readonly Snapshot[],
  plan: RewritePlan,
): Snapshot[] {
  const gone = new Set(
    [...plan.remove, ...plan.write.map((rewrite) => rewrite.from)].map((s) =>
      toHex(s.id),
    ),
  );
  const written = plan.write.map(({ record }): Snapshot => {
    const id = createHash("sha256").update(encodeSnapshot(record)).digest();
    return { ...record, id: new Uint8Array(id) };
  });
  return [...snapshots.filter((s) => !gone.has(toHex(s.id))), ...written];
}

const pinAt = (snapshot: Snapshot): Pin => ({
  repositoryId: new Uint8Array(32),
  keyCheckValue: new Uint8Array(32),
  lastSeq: snapshot.seq,
  lastHeadId: snapshot.id,
  generation: 0,
});

/** Every client that pinned a record that was once a head must still accept the repository. */
function expectEveryPinAccepted(pins: readonly Snapshot[], after: Snapshot[]) {
  for (const pinned of pins)
    expect(() => {
      checkHead(pinAt(pinned), after, "/cache");
    }, `pinned ${pinned.id[0]}`).not.toThrow();
}

describe("planSnapshotChanges: new tags", () => {
  it("rewrites a snapshot below the head in its place: same seq and previous", () => {
    const { s2, s3, t3, s1, all } = history();
    const plan = planSnapshotChanges(all, {
      retag: [{ snapshot: s2, tags: ["keep"] }],
    });
    expect(plan.remove).toEqual([]);
    expect(plan.write).toHaveLength(1);
    const [rewrite] = plan.write;
    // toEqual passes over the undefined id: the record is s2's with the new tags.
    expect(rewrite?.record).toEqual({ ...s2, id: undefined, tags: ["keep"] });
    expect(rewrite?.onTop).toBe(false);
    const after = applied(all, plan);
    expect(headOf(after)).toBe(s3);
    expectEveryPinAccepted([s1, s2, t3, s3], after);
  });

  it("puts the rewritten head on top, following its old record, so `latest` stays and pins hold", () => {
    const { s1, s2, t3, s3, all } = history();
    const plan = planSnapshotChanges(all, {
      retag: [{ snapshot: s3, tags: ["keep"] }],
    });
    const [rewrite] = plan.write;
    expect(rewrite?.onTop).toBe(true);
    expect(rewrite?.record.seq).toBe(4);
    expect(
      bytesEqual(rewrite?.record.previous ?? new Uint8Array(), s3.id),
    ).toBe(true);
    const after = applied(all, plan);
    const latest = latestOf(after);
    expect(latest?.tree).toEqual(s3.tree);
    expect(latest?.tags).toEqual(["keep"]);
    expectEveryPinAccepted([s1, s2, t3, s3], after);
  });

  it("goes above this client's pin when it is higher than the head", () => {
    const { s3, all } = history();
    const plan = planSnapshotChanges(all, {
      retag: [{ snapshot: s3, tags: ["x"] }],
      pinSeq: 9,
    });
    expect(plan.write[0]?.record.seq).toBe(10);
  });

  it("puts a record at the head's height on top too, keeping the chain's order", () => {
    const { s1, s2, t3, s3, all } = history();
    const plan = planSnapshotChanges(all, {
      retag: [
        { snapshot: s3, tags: ["b"] },
        { snapshot: t3, tags: ["a"] },
      ],
    });
    expect(plan.write.map((w) => [w.from, w.record.seq])).toEqual([
      [t3, 4],
      [s3, 5],
    ]);
    const after = applied(all, plan);
    expect(latestOf(after)?.tree).toEqual(s3.tree);
    // t3's writer pinned t3: it must still find it.
    expectEveryPinAccepted([s1, s2, t3, s3], after);
  });
});

describe("planSnapshotChanges: removing", () => {
  it("removes snapshots below the head and writes nothing", () => {
    const { s1, s2, t3, s3, all } = history();
    const plan = planSnapshotChanges(all, { remove: [s2] });
    expect(plan.write).toEqual([]);
    expect(plan.remove).toEqual([s2]);
    expectEveryPinAccepted([s1, t3, s3], applied(all, plan));
  });

  it("lets the newest snapshot left take a removed head's place, naming the head as previous", () => {
    const { s1, s2, t3, s3, all } = history();
    const plan = planSnapshotChanges(all, { remove: [s3, t3] });
    expect(plan.write).toHaveLength(1);
    const [moved] = plan.write;
    expect(moved?.from).toBe(s2);
    expect(moved?.reason).toBe("new-head");
    expect(moved?.record.seq).toBe(4);
    expect(bytesEqual(moved?.record.previous ?? new Uint8Array(), s3.id)).toBe(
      true,
    );
    const after = applied(all, plan);
    expect(after).toHaveLength(2);
    expect(latestOf(after)?.tree).toEqual(s2.tree);
    // The next backup follows the new head; every client's pin still holds.
    expect(headOf(after)?.seq).toBe(4);
    expectEveryPinAccepted([s1, s2, t3, s3], after);
  });

  it("keeps the new tags of a successor that is also retagged", () => {
    const { s2, s3, all } = history();
    const plan = planSnapshotChanges(all, {
      remove: [s3],
      retag: [{ snapshot: s2, tags: ["x"] }],
    });
    // t3 is the newest left: it takes the head's place; s2 is retagged in place.
    expect(
      plan.write.map((w) => [w.from.id[0], w.reason, w.record.tags]),
    ).toEqual([
      [2, "retag", ["x"]],
      [3, "new-head", []],
    ]);
  });

  it("refuses to remove every snapshot of the chain", () => {
    const { all } = history();
    let caught: unknown;
    try {
      planSnapshotChanges(all, { remove: all });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BlindsyncError);
    expect((caught as BlindsyncError).kind).toBe("usage");
  });

  it("refuses a snapshot both removed and retagged (a caller's bug)", () => {
    const { s2, all } = history();
    expect(() =>
      planSnapshotChanges(all, {
        remove: [s2],
        retag: [{ snapshot: s2, tags: [] }],
      }),
    ).toThrow(TypeError);
  });
});

describe("applySnapshotChanges", () => {
  async function repositoryWithOneSnapshot(appendOnly: boolean) {
    const store = new MemoryStore({ appendOnly });
    const repo = await Repository.create(
      store,
      new TextEncoder().encode("pw"),
      {
        scrypt: { logN: 15, r: 8, p: 1 },
      },
    );
    await repo.saveSnapshot(make(1, 1, null, 1));
    return repo;
  }

  it("writes the new record, removes the old one and names the new head", async () => {
    const repo = await repositoryWithOneSnapshot(false);
    const [only] = await repo.listSnapshots();
    if (only === undefined) throw new Error("no snapshot");
    const plan = planSnapshotChanges([only], {
      retag: [{ snapshot: only, tags: ["keep"] }],
    });
    const result = await applySnapshotChanges(repo, plan);
    const after = await repo.listSnapshots();
    expect(after.map((s) => s.tags)).toEqual([["keep"]]);
    expect(result.head?.id).toEqual(after[0]?.id);
  });

  it("refuses on an append-only store before writing anything", async () => {
    const repo = await repositoryWithOneSnapshot(true);
    const [only] = await repo.listSnapshots();
    if (only === undefined) throw new Error("no snapshot");
    const plan = planSnapshotChanges([only], {
      retag: [{ snapshot: only, tags: ["keep"] }],
    });
    await expect(applySnapshotChanges(repo, plan)).rejects.toMatchObject({
      kind: "append-only",
    });
    expect((await repo.listSnapshots()).map((s) => s.tags)).toEqual([[]]);
  });
});
