import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  repositoryWithSnapshots,
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { runCat, runDiff, runLs, runSnapshots } from "./browse.js";

let context: TestContext;
let cleanup: () => void;
let repository: string;
let ids: string[];

beforeAll(async () => {
  let dir: string;
  ({ context, dir, cleanup } = testContext());
  ({ repository, ids } = await repositoryWithSnapshots(context, dir, [
    { "a.txt": "alpha\n", "sub/b.txt": "beta\n" },
    { "a.txt": "alpha, changed\n", "c\x1b[31m.txt": "gamma\n" },
  ]));
});
afterAll(() => {
  cleanup();
});

describe("runSnapshots()", () => {
  it("lists every snapshot, oldest first, and --json as one array", async () => {
    const text = context.with();
    await runSnapshots(text, repository);
    expect(text.take().map((line) => line.slice(0, 8))).toEqual(
      ids.map((id) => id.slice(0, 8)),
    );
    const json = context.with({ json: true });
    await runSnapshots(json, repository);
    const [listed] = json.json() as { id: string }[][];
    expect(listed!.map((snapshot) => snapshot.id)).toEqual(ids);
  });
});

describe("runLs()", () => {
  it("lists the latest snapshot below a path, escaping control characters in names", async () => {
    const ls = context.with();
    await runLs(ls, { repository });
    // A single source is stored as the snapshot's root, so paths start below it.
    expect(ls.take()).toEqual(["a.txt", "c\\x1b[31m.txt", "sub", "sub/b.txt"]);
    expect(ls.stdout.text()).not.toContain("\x1b");
  });

  it("lists an older snapshot by id prefix, and a file path as that one entry", async () => {
    const ls = context.with({ json: true });
    const file = "sub/b.txt";
    await runLs(ls, { repository, snapshot: ids[0]!.slice(0, 8), path: file });
    expect(ls.json()).toEqual([
      expect.objectContaining({ path: file, type: "file", size: 5 }),
    ]);
  });

  it("an unknown snapshot is not-found and a malformed one a usage error", async () => {
    await expect(
      runLs(context.with(), { repository, snapshot: "ffffffff" }),
    ).rejects.toMatchObject({ kind: "not-found" });
    await expect(
      runLs(context.with(), { repository, snapshot: "yesterday" }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: '"yesterday" is not a snapshot id (hex digits or "latest")',
    });
  });
});

describe("runCat()", () => {
  it("writes a file's bytes raw, from the latest or a named snapshot", async () => {
    const a = "a.txt";
    const latest = context.with();
    await runCat(latest, { repository, path: a });
    expect(latest.stdout.text()).toBe("alpha, changed\n");
    const first = context.with();
    await runCat(first, { repository, path: a, snapshot: ids[0]! });
    expect(first.stdout.text()).toBe("alpha\n");
  });

  it("a directory is a usage error", async () => {
    const sub = "sub";
    await expect(
      runCat(context.with(), { repository, path: sub }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: `"${sub}" is not a file`,
    });
  });
});

describe("runDiff()", () => {
  it("marks added, removed and modified paths and counts them", async () => {
    const diff = context.with();
    const changes = await runDiff(diff, {
      repository,
      before: ids[0]!,
      after: ids[1]!,
    });
    const lines = diff.take();
    expect(lines).toHaveLength(changes);
    expect(lines.filter((line) => line.startsWith("M "))).toEqual(
      expect.arrayContaining([expect.stringMatching(/a\.txt$/)]),
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\+ .*c\\x1b\[31m\.txt$/),
      ]),
    );
    const same = context.with({ json: true });
    await expect(
      runDiff(same, { repository, before: ids[1]!, after: "latest" }),
    ).resolves.toBe(0);
    expect(same.json()).toEqual([]);
  });
});
