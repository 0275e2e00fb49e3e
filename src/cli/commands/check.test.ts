import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  repositoryWithSnapshots,
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { KIND } from "../../../test/helpers/constants.js";
import { blobRows, flipStoredByte } from "../../../test/helpers/database.js";
import { parseReadDataSubset, runCheck } from "./check.js";

let context: TestContext;
let cleanup: () => void;
let repository: string;

beforeAll(async () => {
  let dir: string;
  ({ context, dir, cleanup } = testContext());
  ({ repository } = await repositoryWithSnapshots(context, dir, [
    { "a.txt": "alpha\n", "b.txt": "beta\n" },
  ]));
});
afterAll(() => {
  cleanup();
});

describe("runCheck()", () => {
  it("a sound repository: one summary line, or one JSON summary", async () => {
    const check = context.with();
    const report = await runCheck(check, { repository });
    expect(report.errors).toBe(0);
    expect(check.take()).toEqual([
      expect.stringMatching(
        /^Checked 1 snapshot, 1 tree, 2 data blobs; data blobs checked for presence only .*: no problems found$/,
      ),
    ]);
    const json = context.with({ json: true });
    await runCheck(json, { repository, readData: true });
    expect(json.json().at(-1)).toMatchObject({
      type: "summary",
      snapshots: 1,
      blobsRead: 2,
      filesVerified: 2,
      errors: 0,
    });
  });

  it("--read-data with --read-data-subset, or a malformed subset, is a usage error", async () => {
    await expect(
      runCheck(context.with(), {
        repository,
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
    const [damaged] = blobRows(repository, KIND.data);
    flipStoredByte(repository, damaged!.id);
    const check = context.with();
    await expect(
      runCheck(check, { repository, readData: true }),
    ).rejects.toMatchObject({ kind: "integrity", message: "1 problem found" });
    expect(check.stdout.text()).toMatch(/damaged/);
  });
});
