import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sharedRepository } from "../../../test/helpers/command-context.js";
import { filterOf } from "./filter-options.js";
import { runFind } from "./find.js";

const shared = sharedRepository([
  {
    "a.txt": "alpha\n",
    "docs/readme.md": "read me\n",
    "docs/deep/notes.txt": "notes\n",
  },
  { "B.TXT": "beta\n" },
]);

interface Match {
  snapshot: string;
  path: string;
  type: string;
  size: number;
}

describe("runFind()", () => {
  it("finds names at any depth in every snapshot, oldest first, as JSON lines", async () => {
    const find = shared.context.with({ json: true });
    const result = await runFind(find, {
      repository: shared.repository,
      patterns: ["*.txt"],
    });
    const matches = find.json() as Match[];
    const [first, second] = shared.ids;
    expect(matches.map((match) => [match.snapshot, match.path])).toEqual([
      [first, "a.txt"],
      [first, "docs/deep/notes.txt"],
      [second, "a.txt"],
      [second, "docs/deep/notes.txt"],
    ]);
    expect(matches[0]).toMatchObject({ type: "file", size: 6 });
    expect(result).toEqual({ matches: 4, snapshots: 2 });
  });

  it("with -i ignores case, and --snapshot searches only the named one", async () => {
    const find = shared.context.with({ json: true });
    await runFind(find, {
      repository: shared.repository,
      patterns: ["b.txt"],
      ignoreCase: true,
      snapshots: ["latest"],
    });
    expect((find.json() as Match[]).map((match) => match.path)).toEqual([
      "B.TXT",
    ]);
  });

  it("matches a path's end, or from the root with a leading slash, and groups by snapshot", async () => {
    const find = shared.context.with();
    await runFind(find, {
      repository: shared.repository,
      patterns: ["/docs/*", "deep/*.txt"],
      snapshots: [shared.ids[0]!.slice(0, 8)],
    });
    const lines = find.take();
    expect(lines[0]).toMatch(
      new RegExp(`^Found in snapshot ${shared.ids[0]!.slice(0, 8)} of `),
    );
    expect(lines.slice(1)).toEqual([
      "  docs/deep/",
      "  docs/deep/notes.txt  6 B",
      "  docs/readme.md  8 B",
    ]);
    const anchored = shared.context.with();
    await runFind(anchored, {
      repository: shared.repository,
      patterns: ["/deep/*"],
    });
    expect(anchored.take()).toEqual(["No match in 2 snapshots"]);
  });

  it("searches only the snapshots the filter keeps", async () => {
    const find = shared.context.with();
    const result = await runFind(find, {
      repository: shared.repository,
      patterns: ["*"],
      filter: filterOf({ host: ["no-such-host"] }),
    });
    expect(result).toEqual({ matches: 0, snapshots: 0 });
    expect(find.take()).toEqual(["No match in 0 snapshots"]);
  });

  it("a malformed pattern is a usage error before any repository is opened", async () => {
    await expect(
      runFind(shared.context.with(), {
        repository: join(shared.dir, "no-repository-here"),
        patterns: ["[oops"],
      }),
    ).rejects.toMatchObject({ kind: "usage" });
  });
});
