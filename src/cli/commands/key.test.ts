import { describe, expect, it } from "vitest";
import { sharedRepository } from "../../../test/helpers/command-context.js";
import { runSnapshots } from "./browse.js";
import { runKeyAdd, runKeyList, runKeyRemove } from "./key.js";

const shared = sharedRepository([{ "a.txt": "alpha\n" }]);

const NEW = "a second passphrase";

describe("runKeyList(), runKeyAdd() and runKeyRemove()", () => {
  it("lists the one slot, marked as the one the passphrase opened", async () => {
    const list = shared.context.with();
    const slots = await runKeyList(list, shared.repository);
    expect(slots).toHaveLength(1);
    expect(list.take()).toEqual([
      expect.stringMatching(
        /^\* \S+ {2}scrypt N=2\^15 r=8 p=1 {2}\(opened by the current passphrase\)$/,
      ),
    ]);
  });

  it("adds a slot for BLINDSYNC_NEW_PASSWORD that then opens the repository", async () => {
    const add = shared.context.with({ env: { BLINDSYNC_NEW_PASSWORD: NEW } });
    const name = await runKeyAdd(add, { repository: shared.repository });
    expect(add.take()).toEqual([`Added key slot ${name}`]);
    const withNew = shared.context.with({
      env: { BLINDSYNC_PASSWORD: NEW },
      json: true,
    });
    const slots = await runKeyList(withNew, shared.repository);
    expect(slots).toHaveLength(2);
    expect(slots.find((slot) => slot.current)?.name).toBe(name);
    await expect(
      runSnapshots(
        shared.context.with({ env: { BLINDSYNC_PASSWORD: NEW } }),
        shared.repository,
      ),
    ).resolves.toHaveLength(1);
  });

  it("removing: an unknown name is not-found; removing the slot in use warns; the last one is refused", async () => {
    await expect(
      runKeyRemove(shared.context.with(), {
        repository: shared.repository,
        name: "zzzz",
      }),
    ).rejects.toMatchObject({ kind: "not-found" });
    const slots = await runKeyList(shared.context.with(), shared.repository);
    const mine = slots.find((slot) => slot.current)!.name;
    const remove = shared.context.with();
    await runKeyRemove(remove, { repository: shared.repository, name: mine });
    expect(remove.stderr.text()).toMatch(
      /that passphrase no longer opens the repository/,
    );
    await expect(
      runKeyList(shared.context.with(), shared.repository),
    ).rejects.toMatchObject({
      kind: "wrong-passphrase",
    });
    const other = shared.context.with({ env: { BLINDSYNC_PASSWORD: NEW } });
    const last = slots.find((slot) => !slot.current)!.name;
    await expect(
      runKeyRemove(other, { repository: shared.repository, name: last }),
    ).rejects.toMatchObject({
      kind: "failed",
      message: expect.stringContaining("it is the last one") as unknown,
    });
  });
});
