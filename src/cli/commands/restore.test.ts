import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sharedRepository } from "../../../test/helpers/command-context.js";
import { runRestore } from "./restore.js";

const shared = sharedRepository([
  { "a.txt": "alpha\n", "sub/b.txt": "beta\n" },
  { "a.txt": "alpha, changed\n" },
]);

describe("runRestore()", () => {
  it("restores the latest snapshot into a new directory and says what it wrote", async () => {
    const target = join(shared.dir, "latest");
    const restore = shared.context.with();
    const result = await runRestore(restore, {
      repository: shared.repository,
      target,
    });
    expect(result).toMatchObject({ files: 2, errors: 0 });
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe(
      "alpha, changed\n",
    );
    expect(readFileSync(join(target, "sub", "b.txt"), "utf8")).toBe("beta\n");
    expect(restore.take()).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Restored snapshot ${shared.ids[1]!.slice(0, 8)} to ".*latest": 2 files`,
        ),
      ),
    ]);
  });

  it("restores a named snapshot, only what --include names, with a --json summary", async () => {
    const target = join(shared.dir, "first");
    const json = shared.context.with({ json: true });
    await runRestore(json, {
      repository: shared.repository,
      target,
      snapshot: shared.ids[0]!.slice(0, 10),
      include: ["a.txt"],
    });
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe("alpha\n");
    expect(existsSync(join(target, "sub"))).toBe(false);
    expect(json.json().at(-1)).toMatchObject({
      type: "summary",
      snapshot: shared.ids[0],
      files: 1,
    });
  });

  it("an unknown snapshot is not-found and writes nothing", async () => {
    const target = join(shared.dir, "never");
    await expect(
      runRestore(shared.context.with(), {
        repository: shared.repository,
        target,
        snapshot: "0000",
      }),
    ).rejects.toMatchObject({ kind: "not-found" });
    expect(existsSync(target)).toBe(false);
  });
});
