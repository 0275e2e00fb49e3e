import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sharedRepository } from "../../../test/helpers/command-context.js";
import { runRepair } from "./repair.js";
import { runUnlock } from "./unlock.js";

const shared = sharedRepository([{ "a.txt": "alpha\n" }]);

describe("runRepair()", () => {
  it("a sound repository has nothing to repair, in text and in JSON", async () => {
    const repair = shared.context.with();
    const result = await runRepair(repair, { repository: shared.repository });
    expect(result.undecodableSnapshots).toEqual([]);
    expect(repair.take()).toEqual([
      "Nothing to repair: every snapshot blob and key slot is readable",
    ]);
    const json = shared.context.with({ json: true });
    await runRepair(json, { repository: shared.repository, dryRun: true });
    expect(json.json()).toEqual([
      { type: "summary", snapshotBlobs: 0, keySlots: 0, dryRun: true },
    ]);
  });

  it("a wrong passphrase is refused before anything is looked at", async () => {
    await expect(
      runRepair(shared.context.with({ env: { BLINDSYNC_PASSWORD: "nope" } }), {
        repository: shared.repository,
      }),
    ).rejects.toMatchObject({ kind: "wrong-passphrase" });
  });
});

describe("runUnlock()", () => {
  it("needs no passphrase and reports the locks it removed", async () => {
    const unlock = shared.context.with({
      env: { BLINDSYNC_PASSWORD: undefined },
    });
    await runUnlock(unlock, shared.repository, false);
    expect(unlock.take()).toEqual(["Removed 0 expired locks"]);
    const json = shared.context.with({ json: true });
    await runUnlock(json, shared.repository, true);
    expect(json.json()).toEqual([{ type: "summary", removed: 0, left: 0 }]);
  });

  it("a location without a repository is no-repository", async () => {
    await expect(
      runUnlock(shared.context.with(), join(shared.dir, "nothing-here"), false),
    ).rejects.toMatchObject({ kind: "no-repository" });
  });
});
