import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { TreeEntry } from "../repo/index.js";
import { OwnerNames, parseIdNames } from "./owner-names.js";
import { localOwner } from "./restore/owner-map.js";

const dir = mkdtempSync(join(tmpdir(), "blindsync-owners-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** An OwnerNames reading these passwd and group lines instead of the system's. */
function namesOf(passwd: string, group: string): OwnerNames {
  const files = {
    passwd: join(dir, `passwd-${Math.random()}`),
    group: join(dir, `group-${Math.random()}`),
  };
  writeFileSync(files.passwd, passwd);
  writeFileSync(files.group, group);
  return new OwnerNames(files);
}

describe("owner names", () => {
  it.each([
    ["alice:x:1000:100::/home/alice:/bin/sh", 1000, "alice"],
    ["bad:x:-1:0::/:", -1, undefined],
    ["noid:x::0::/:", 0, undefined],
    ["# a comment", 0, undefined],
    ["se:cret:x:7", 7, undefined],
  ])("parseIdNames(%j) names id %i %j", (line, id, name) => {
    expect(parseIdNames(`${line}\n`).byId.get(id)).toBe(name);
  });

  it("the first line naming an id or a name wins, as getpwuid() and getpwnam() answer", () => {
    const { byId, byName } = parseIdNames(
      "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\nroot:x:5:5::/:\n",
    );
    expect(byId.get(0)).toBe("root");
    expect(byName.get("root")).toBe(0);
    expect(byName.get("toor")).toBe(0);
    expect(byId.get(5)).toBe("root");
  });

  it("resolves users and groups both ways, and leaves unknown ids unnamed", () => {
    const names = namesOf(
      "alice:x:1000:100::/home/alice:/bin/sh\n",
      "users:x:100:alice\nwheel:x:10:\n",
    );
    expect(names.user(1000)).toBe("alice");
    expect(names.group(100)).toBe("users");
    expect(names.group(4242)).toBeUndefined();
    expect(names.uidOf("alice")).toBe(1000);
    expect(names.gidOf("wheel")).toBe(10);
    expect(names.gidOf("nobody-here")).toBeUndefined();
  });

  it("a missing passwd file names no one but the user running the process", () => {
    const names = new OwnerNames({
      passwd: join(dir, "none"),
      group: join(dir, "none"),
    });
    expect(names.group(0)).toBeUndefined();
    const uid = process.geteuid?.() ?? 0;
    // os.userInfo() asks the name service, so it names at least this process's user.
    expect(names.user(uid)).toBeTypeOf("string");
  });
});

describe("owners as a restore run by root applies them", () => {
  const entry: TreeEntry = {
    name: new Uint8Array(Buffer.from("f")),
    type: "fifo",
    mode: 0o600,
    mtimeNs: 0n,
    uid: 1000,
    gid: 100,
    user: "alice",
    group: "staff",
  };
  const here = namesOf(
    "alice:x:1500:1500::/:\nbob:x:1000:1000::/:\n",
    "users:x:100:\n",
  );

  it("maps a stored name this machine knows under another number to that number", () => {
    expect(localOwner(entry, here)).toMatchObject({ uid: 1500, gid: 100 });
  });

  it("keeps the stored numbers for unknown names and for entries without names", () => {
    const unnamed: TreeEntry = { ...entry, user: undefined, group: undefined };
    expect(localOwner(unnamed, here)).toBe(unnamed);
    const stranger: TreeEntry = { ...entry, user: "carol", group: "staff" };
    expect(localOwner(stranger, here)).toBe(stranger);
  });
});
