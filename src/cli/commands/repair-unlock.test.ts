import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  repositoryWithSnapshots,
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { runRepair } from "./repair.js";
import { runUnlock } from "./unlock.js";

let context: TestContext;
let dir: string;
let cleanup: () => void;
let repository: string;

beforeAll(async () => {
  ({ context, dir, cleanup } = testContext());
  ({ repository } = await repositoryWithSnapshots(context, dir, [
    { "a.txt": "alpha\n" },
  ]));
});
afterAll(() => {
  cleanup();
});

describe("runRepair()", () => {
  it("a sound repository has nothing to repair, in text and in JSON", async () => {
    const repair = context.with();
    const result = await runRepair(repair, { repository });
    expect(result.undecodableSnapshots).toEqual([]);
    expect(repair.take()).toEqual([
      "Nothing to repair: every snapshot blob and key slot is readable",
    ]);
    const json = context.with({ json: true });
    await runRepair(json, { repository, dryRun: true });
    expect(json.json()).toEqual([
      { type: "summary", snapshotBlobs: 0, keySlots: 0, dryRun: true },
    ]);
  });

  it("a wrong passphrase is refused before anything is looked at", async () => {
    await expect(
      runRepair(context.with({ env: { BLINDSYNC_PASSWORD: "nope" } }), {
        repository,
      }),
    ).rejects.toMatchObject({ kind: "wrong-passphrase" });
  });
});

describe("runUnlock()", () => {
  it("needs no passphrase and reports the locks it removed", async () => {
    const unlock = context.with({ env: { BLINDSYNC_PASSWORD: undefined } });
    await runUnlock(unlock, repository, false);
    expect(unlock.take()).toEqual(["Removed 0 expired locks"]);
    const json = context.with({ json: true });
    await runUnlock(json, repository, true);
    expect(json.json()).toEqual([{ type: "summary", removed: 0, left: 0 }]);
  });

  it("a location without a repository is no-repository", async () => {
    await expect(
      runUnlock(context.with(), join(dir, "nothing-here"), false),
    ).rejects.toMatchObject({ kind: "no-repository" });
  });
});
