import { describe, expect, it } from "vitest";
import { BlindsyncError } from "../../errors.js";
import { sharedRepository } from "../../../test/helpers/command-context.js";
import { runCat, runDiff, runLs, runSnapshots } from "./browse.js";

const shared = sharedRepository([
  { "a.txt": "alpha\n", "sub/b.txt": "beta\n" },
  { "a.txt": "alpha, changed\n", "c\x1b[31m.txt": "gamma\n" },
]);

describe("runSnapshots()", () => {
  it("lists every snapshot, oldest first, and --json as one array", async () => {
    const text = shared.context.with();
    await runSnapshots(text, shared.repository);
    expect(text.take().map((line) => line.slice(0, 8))).toEqual(
      shared.ids.map((id) => id.slice(0, 8)),
    );
    const json = shared.context.with({ json: true });
    await runSnapshots(json, shared.repository);
    const [listed] = json.json() as { id: string }[][];
    expect(listed!.map((snapshot) => snapshot.id)).toEqual(shared.ids);
  });
});

describe("runLs()", () => {
  it("lists the latest snapshot below a path, escaping control characters in names", async () => {
    const ls = shared.context.with();
    await runLs(ls, { repository: shared.repository });
    // A single source is stored as the snapshot's root, so paths start below it.
    expect(ls.take()).toEqual(["a.txt", "c\\x1b[31m.txt", "sub", "sub/b.txt"]);
    expect(ls.stdout.text()).not.toContain("\x1b");
  });

  it("lists an older snapshot by id prefix, and a file path as that one entry", async () => {
    const ls = shared.context.with({ json: true });
    const file = "sub/b.txt";
    await runLs(ls, {
      repository: shared.repository,
      snapshot: shared.ids[0]!.slice(0, 8),
      path: file,
    });
    expect(ls.json()).toEqual([
      expect.objectContaining({ path: file, type: "file", size: 5 }),
    ]);
  });

  it("an unknown snapshot is not-found and a malformed one a usage error", async () => {
    await expect(
      runLs(shared.context.with(), {
        repository: shared.repository,
        snapshot: "ffffffff",
      }),
    ).rejects.toMatchObject({ kind: "not-found" });
    await expect(
      runLs(shared.context.with(), {
        repository: shared.repository,
        snapshot: "yesterday",
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: '"yesterday" is not a snapshot id (hex digits or "latest")',
    });
  });
});

describe("a snapshot named where ls and cat take a path", () => {
  /** What `run` rejects with; fails the test when it resolves. */
  async function refusal(run: Promise<unknown>): Promise<BlindsyncError> {
    const caught: unknown = await run.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(caught).toBeInstanceOf(BlindsyncError);
    return caught as BlindsyncError;
  }

  it("is not-found, with a hint that says how to name a snapshot", async () => {
    const latest = await refusal(
      runLs(shared.context.with(), {
        repository: shared.repository,
        path: "latest",
      }),
    );
    expect(latest.kind).toBe("not-found");
    expect(latest.message).toBe('"latest" is not in the snapshot');
    expect(latest.hint).toContain("blindsync ls --snapshot latest REPO");
    const prefix = shared.ids[0]!.slice(0, 8);
    const byId = await refusal(
      runCat(shared.context.with(), {
        repository: shared.repository,
        path: prefix,
      }),
    );
    expect(byId.hint).toContain(`blindsync cat --snapshot ${prefix} REPO PATH`);
    // A missing path that names no snapshot gets no such hint.
    const missing = await refusal(
      runLs(shared.context.with(), {
        repository: shared.repository,
        path: "nope",
      }),
    );
    expect(missing.kind).toBe("not-found");
    expect(missing.hint).toBeUndefined();
  });
});

describe("runCat()", () => {
  it("writes a file's bytes raw, from the latest or a named snapshot", async () => {
    const a = "a.txt";
    const latest = shared.context.with();
    await runCat(latest, { repository: shared.repository, path: a });
    expect(latest.stdout.text()).toBe("alpha, changed\n");
    const first = shared.context.with();
    await runCat(first, {
      repository: shared.repository,
      path: a,
      snapshot: shared.ids[0]!,
    });
    expect(first.stdout.text()).toBe("alpha\n");
  });

  it("a directory is a usage error", async () => {
    const sub = "sub";
    await expect(
      runCat(shared.context.with(), {
        repository: shared.repository,
        path: sub,
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: `"${sub}" is not a file`,
    });
  });
});

describe("runDiff()", () => {
  it("marks added, removed and modified paths and counts them", async () => {
    const diff = shared.context.with();
    const changes = await runDiff(diff, {
      repository: shared.repository,
      before: shared.ids[0]!,
      after: shared.ids[1]!,
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
    const same = shared.context.with({ json: true });
    await expect(
      runDiff(same, {
        repository: shared.repository,
        before: shared.ids[1]!,
        after: "latest",
      }),
    ).resolves.toBe(0);
    expect(same.json()).toEqual([]);
  });
});
