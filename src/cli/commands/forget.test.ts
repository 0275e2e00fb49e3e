import { describe, expect, it } from "vitest";
import { sharedRepository } from "../../../test/helpers/command-context.js";
import { runSnapshots } from "./browse.js";
import { parseWait, policyFromFlags, runForget, runPrune } from "./forget.js";

const shared = sharedRepository([
  { "a.txt": "first\n" },
  { "a.txt": "second\n" },
  { "a.txt": "third\n" },
]);

async function listedIds(): Promise<string[]> {
  const json = shared.context.with({ json: true });
  await runSnapshots(json, shared.repository);
  return (json.json()[0] as { id: string }[]).map((snapshot) => snapshot.id);
}

describe("runForget() and runPrune()", () => {
  it("a dry run prints each decision and removes nothing", async () => {
    const forget = shared.context.with();
    await runForget(forget, {
      repository: shared.repository,
      policy: { keepLast: 1 },
      dryRun: true,
      lockWaitMs: 0,
    });
    const lines = forget.take();
    expect(lines.filter((line) => line.startsWith("keep  "))).toHaveLength(1);
    expect(lines.filter((line) => line.startsWith("remove"))).toHaveLength(2);
    expect(lines.at(-1)).toBe("Would remove 2 snapshots, kept 1");
    expect(await listedIds()).toEqual(shared.ids);
  });

  it("forget --prune removes the snapshots and then the blobs only they held", async () => {
    const forget = shared.context.with({ json: true });
    await runForget(forget, {
      repository: shared.repository,
      policy: { keepLast: 1 },
      prune: true,
      lockWaitMs: 0,
    });
    const printed = forget.json() as { type: string }[];
    expect(printed.find((line) => line.type === "summary")).toEqual({
      type: "summary",
      kept: 1,
      removed: 2,
      dryRun: false,
    });
    // Each removed snapshot held one tree of its own; a.txt is inline in it (tree format 4).
    expect(printed.find((line) => line.type === "prune")).toMatchObject({
      snapshots: 1,
      deletedBlobs: 2,
    });
    expect(await listedIds()).toEqual([shared.ids[2]]);
    // Nothing left to delete: a second prune keeps everything.
    const again = shared.context.with();
    const result = await runPrune(again, {
      repository: shared.repository,
      lockWaitMs: 0,
    });
    expect(result.deletedBlobs).toBe(0);
    expect(again.take()).toEqual([
      expect.stringMatching(/^Deleted 0 unreferenced blobs .*from 1 snapshot$/),
    ]);
  });

  it("flags: counts must be whole numbers, --lock-wait a duration", () => {
    expect(
      policyFromFlags({ keepLast: "3", keepTag: [], lockWait: "0" }),
    ).toEqual(expect.objectContaining({ keepLast: 3 }));
    expect(() =>
      policyFromFlags({ keepLast: "three", keepTag: [], lockWait: "0" }),
    ).toThrow(expect.objectContaining({ kind: "usage" }));
    expect(() => parseWait("soon")).toThrow(
      expect.objectContaining({ kind: "usage" }),
    );
  });
});
