import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  repositoryWithSnapshots,
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { runRestore } from "./restore.js";

let context: TestContext;
let dir: string;
let cleanup: () => void;
let repository: string;
let ids: string[];

beforeAll(async () => {
  ({ context, dir, cleanup } = testContext());
  ({ repository, ids } = await repositoryWithSnapshots(context, dir, [
    { "a.txt": "alpha\n", "sub/b.txt": "beta\n" },
    { "a.txt": "alpha, changed\n" },
  ]));
});
afterAll(() => {
  cleanup();
});

describe("runRestore()", () => {
  it("restores the latest snapshot into a new directory and says what it wrote", async () => {
    const target = join(dir, "latest");
    const restore = context.with();
    const result = await runRestore(restore, { repository, target });
    expect(result).toMatchObject({ files: 2, errors: 0 });
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe(
      "alpha, changed\n",
    );
    expect(readFileSync(join(target, "sub", "b.txt"), "utf8")).toBe("beta\n");
    expect(restore.take()).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Restored snapshot ${ids[1]!.slice(0, 8)} to ".*latest": 2 files`,
        ),
      ),
    ]);
  });

  it("restores a named snapshot, only what --include names, with a --json summary", async () => {
    const target = join(dir, "first");
    const json = context.with({ json: true });
    await runRestore(json, {
      repository,
      target,
      snapshot: ids[0]!.slice(0, 10),
      include: ["a.txt"],
    });
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe("alpha\n");
    expect(existsSync(join(target, "sub"))).toBe(false);
    expect(json.json().at(-1)).toMatchObject({
      type: "summary",
      snapshot: ids[0],
      files: 1,
    });
  });

  it("an unknown snapshot is not-found and writes nothing", async () => {
    const target = join(dir, "never");
    await expect(
      runRestore(context.with(), { repository, target, snapshot: "0000" }),
    ).rejects.toMatchObject({ kind: "not-found" });
    expect(existsSync(target)).toBe(false);
  });
});
