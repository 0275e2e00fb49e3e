import { describe, expect, it } from "vitest";
import { sharedRepository } from "../../../test/helpers/command-context.js";
import { KIND } from "../../../test/helpers/constants.js";
import { blobRows, flipStoredByte } from "../../../test/helpers/database.js";
import { parseReadDataSubset, runCheck } from "./check.js";

// a.txt goes inline in its tree (tree format 4); b.txt, over 1 KiB, is a data blob.
const shared = sharedRepository([
  { "a.txt": "alpha\n", "b.txt": "beta\n".repeat(300) },
]);

describe("runCheck()", () => {
  it("a sound repository: one summary line, or one JSON summary", async () => {
    const check = shared.context.with();
    const report = await runCheck(check, { repository: shared.repository });
    expect(report.errors).toBe(0);
    expect(check.take()).toEqual([
      expect.stringMatching(
        /^Checked 1 snapshot, 1 tree, 1 data blob; data blobs checked for presence only .*: no problems found$/,
      ),
    ]);
    const json = shared.context.with({ json: true });
    await runCheck(json, { repository: shared.repository, readData: true });
    expect(json.json().at(-1)).toMatchObject({
      type: "summary",
      snapshots: 1,
      blobsRead: 1,
      filesVerified: 2,
      errors: 0,
    });
  });

  it("--read-data with --read-data-subset, or a malformed subset, is a usage error", async () => {
    await expect(
      runCheck(shared.context.with(), {
        repository: shared.repository,
        readData: true,
        readDataSubset: "10%",
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: "Give either --read-data or --read-data-subset, not both",
    });
    expect(() => parseReadDataSubset("ten")).toThrow(
      expect.objectContaining({ kind: "usage" }),
    );
    expect(() => parseReadDataSubset("6/5")).toThrow(
      expect.objectContaining({ kind: "usage" }),
    );
    expect(parseReadDataSubset("2/5")).toEqual({ part: 2, of: 5 });
    expect(parseReadDataSubset("2.5%")).toEqual({ fraction: 0.025 });
  });

  it("a damaged data blob is an integrity error naming the blob", async () => {
    const [damaged] = blobRows(shared.repository, KIND.data);
    flipStoredByte(shared.repository, damaged!.id);
    const check = shared.context.with();
    await expect(
      runCheck(check, { repository: shared.repository, readData: true }),
    ).rejects.toMatchObject({ kind: "integrity", message: "1 problem found" });
    expect(check.stdout.text()).toMatch(/damaged/);
  });
});
