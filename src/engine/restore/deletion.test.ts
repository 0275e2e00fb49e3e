import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Tree, TreeEntry } from "../../repo/index.js";
import { Deletion } from "./deletion.js";
import { EntryFailure, ProtectedRefusal } from "./failures.js";
import { Protection } from "./protect.js";
import { Tally } from "./tally.js";
import { Target } from "./target.js";

let base: string;
let root: string;
let warnings: string[];

beforeEach(async () => {
  base = await fsp.realpath(
    await fsp.mkdtemp(join(tmpdir(), "blindsync-deletion-")),
  );
  root = join(base, "target");
  await fsp.mkdir(root);
  warnings = [];
});

afterEach(async () => {
  await fsp.rm(base, { recursive: true, force: true });
});

function parts(options: { enabled: boolean; protect?: string[] }): {
  deletion: Deletion;
  tally: Tally;
  target: Target;
} {
  const tally = new Tally(
    { progress: () => undefined, warn: (message) => warnings.push(message) },
    {},
  );
  const target = new Target(Buffer.from(root));
  const protection =
    options.protect === undefined
      ? undefined
      : new Protection(
          options.protect.map((path) => ({ path, what: "the repository" })),
        );
  return {
    deletion: new Deletion(target, tally, protection, options.enabled),
    tally,
    target,
  };
}

/** A tree naming `names`; extras() reads only the names. */
function treeNaming(...names: string[]): Tree {
  return {
    entries: names.map(
      (name) => ({ name: Buffer.from(name) }) as unknown as TreeEntry,
    ),
  };
}

const exists = (path: string): Promise<boolean> =>
  fsp.lstat(path).then(
    () => true,
    () => false,
  );

describe("Deletion", () => {
  it("extras() removes what the tree does not name, a whole directory counting once, and never follows a link", async () => {
    const outside = join(base, "outside");
    await fsp.mkdir(outside);
    await fsp.writeFile(join(outside, "victim"), "keep me");
    await fsp.writeFile(join(root, "wanted"), "w");
    await fsp.mkdir(join(root, "extra-dir", "deep"), { recursive: true });
    await fsp.writeFile(join(root, "extra-dir", "deep", "f"), "x");
    await fsp.symlink(outside, join(root, "extra-link"));
    const { deletion, tally } = parts({ enabled: true });
    await deletion.extras(treeNaming("wanted"), Buffer.from(root), undefined);
    expect(await fsp.readdir(root)).toEqual(["wanted"]);
    expect(await fsp.readFile(join(outside, "victim"), "utf8")).toBe("keep me");
    expect(tally.result.deleted).toBe(2);
    expect(tally.result.errors).toBe(0);
  });

  it("extras() keeps a protected path and the directories holding it, counting what went from them", async () => {
    const repository = join(root, "usb", "vault");
    await fsp.mkdir(repository, { recursive: true });
    await fsp.writeFile(join(repository, "blindsync.sqlite"), "db");
    await fsp.writeFile(join(root, "usb", "other"), "o");
    const { deletion, tally } = parts({ enabled: true, protect: [repository] });
    await deletion.extras(treeNaming(), Buffer.from(root), undefined);
    expect(await fsp.readdir(join(root, "usb"))).toEqual(["vault"]);
    expect(await exists(join(repository, "blindsync.sqlite"))).toBe(true);
    expect(tally.result.deleted).toBe(1);
    expect(warnings).toEqual([
      expect.stringMatching(/^Kept "usb\/vault": it is the repository/),
    ]);
  });

  it("replace() renames over a file or a symlink, and over a directory only when enabled", async () => {
    const temp = (): Buffer => {
      const path = join(root, `.temp-${Math.random()}`);
      return Buffer.from(path);
    };
    await fsp.mkdir(join(root, "dir"));
    await fsp.writeFile(join(root, "dir", "inside"), "i");
    await fsp.symlink("/", join(root, "link"));
    for (const enabled of [false, true]) {
      const { deletion } = parts({ enabled });
      const first = temp();
      await fsp.writeFile(first, "new");
      deletion.replace(first, Buffer.from(join(root, "link")));
      expect(await fsp.readFile(join(root, "link"), "utf8")).toBe("new");
      const second = temp();
      await fsp.writeFile(second, "file now");
      const replacing = (): void => {
        deletion.replace(second, Buffer.from(join(root, "dir")));
      };
      if (!enabled) {
        expect(replacing).toThrow(EntryFailure);
        expect(await exists(join(root, "dir", "inside"))).toBe(true);
        await fsp.rm(second);
      } else {
        replacing();
        expect(await fsp.readFile(join(root, "dir"), "utf8")).toBe("file now");
      }
    }
  });

  it("inTheWay() refuses, removing nothing, a directory that is or holds a protected path", async () => {
    const repository = join(root, "usb", "vault");
    await fsp.mkdir(repository, { recursive: true });
    await fsp.writeFile(join(root, "usb", "other"), "o");
    const { deletion } = parts({ enabled: true, protect: [repository] });
    expect(() => {
      deletion.inTheWay(Buffer.from(join(root, "usb")));
    }).toThrow(ProtectedRefusal);
    expect(() => {
      deletion.inTheWay(Buffer.from(repository));
    }).toThrow(ProtectedRefusal);
    expect((await fsp.readdir(join(root, "usb"))).sort()).toEqual([
      "other",
      "vault",
    ]);
  });

  it("never removes anything outside the target", () => {
    const { deletion } = parts({ enabled: true });
    expect(() => {
      deletion.inTheWay(Buffer.from(base));
    }).toThrow(/outside the restore target/);
    expect(() => {
      deletion.inTheWay(Buffer.from(root));
    }).toThrow(/outside the restore target/);
  });
});
