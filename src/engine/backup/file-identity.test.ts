import {
  lstatSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, tempDir } from "../../../test/helpers/trees.js";
import type { FileIdentity } from "../../repo/index.js";
import { identityOf, sameIdentity, unchangedSince } from "./file-identity.js";

const base: FileIdentity = {
  ino: 12n,
  size: 100,
  mtimeNs: 1_700_000_000_000_000_001n,
  ctimeNs: 1_700_000_000_000_000_002n,
};

describe("file identity", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("identityOf() takes inode, size, mtime and ctime from a stat", () => {
    const path = join(work, "taken");
    writeFileSync(path, "twelve bytes");
    const stat = lstatSync(path, { bigint: true });
    expect(identityOf(stat)).toEqual({
      ino: stat.ino,
      size: 12,
      mtimeNs: stat.mtimeNs,
      ctimeNs: stat.ctimeNs,
    });
  });

  it.each([
    ["inode", { ino: 13n }],
    ["size", { size: 101 }],
    ["mtime", { mtimeNs: base.mtimeNs + 1n }],
    ["ctime", { ctimeNs: base.ctimeNs + 1n }],
  ])("sameIdentity() tells two identities apart by their %s", (_, change) => {
    expect(sameIdentity(base, { ...base })).toBe(true);
    expect(sameIdentity(base, { ...base, ...change })).toBe(false);
    expect(sameIdentity({ ...base, ...change }, base)).toBe(false);
  });

  it("unchangedSince() holds for an untouched file and fails once it is written, touched, replaced or gone", () => {
    const path = Buffer.from(join(work, "file"));
    writeFileSync(path, "content");
    const seen = () => identityOf(lstatSync(path, { bigint: true }));

    let identity = seen();
    expect(unchangedSince(path, identity)).toBe(true);
    writeFileSync(path, "content, longer");
    expect(unchangedSince(path, identity)).toBe(false);

    identity = seen();
    utimesSync(path, new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(unchangedSince(path, identity)).toBe(false);

    // Same size, same times, another inode: a file saved by rename over the old one.
    identity = seen();
    const stat = lstatSync(path, { bigint: true });
    const other = join(work, "other");
    writeFileSync(other, "content, LONGER");
    utimesSync(
      other,
      new Date(Number(stat.atimeMs)),
      new Date(Number(stat.mtimeMs)),
    );
    renameSync(other, path);
    expect(unchangedSince(path, identity)).toBe(false);

    identity = seen();
    rmSync(path);
    expect(unchangedSince(path, identity)).toBe(false);
  });
});
