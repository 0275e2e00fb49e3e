import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../errors.js";
import { prepareDatabaseFile } from "./location.js";

describe("prepareDatabaseFile()", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("tags the cache root with CACHEDIR.TAG, whose first line is the standard's signature", async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-location-"));
    const root = join(dir, "cache");
    prepareDatabaseFile(root, "/some/repo", "cache.sqlite");
    const tag = readFileSync(join(root, "CACHEDIR.TAG"));
    // https://bford.info/cachedir/: the file must begin with exactly these 43 bytes.
    expect(tag.subarray(0, 43).toString("latin1")).toBe(
      "Signature: 8a477f597d28d172789f06886806bc55",
    );
    expect(tag.toString("utf8")).toMatch(
      /^#\thttps:\/\/bford\.info\/cachedir\/$/m,
    );
  });

  it("leaves a tag that is there already alone", async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-location-"));
    const theirs =
      "Signature: 8a477f597d28d172789f06886806bc55\n# made by another tool\n";
    writeFileSync(join(dir, "CACHEDIR.TAG"), theirs);
    prepareDatabaseFile(dir, "/some/repo", "pin.sqlite");
    expect(readFileSync(join(dir, "CACHEDIR.TAG"), "utf8")).toBe(theirs);
  });

  it("a cache that cannot be made is a clear error naming the place and the way out", async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-location-"));
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    let caught: unknown;
    try {
      prepareDatabaseFile(join(file, "cache"), "/some/repo", "cache.sqlite");
    } catch (error) {
      caught = error;
    }
    if (!isBlindsyncError(caught, "failed")) throw caught;
    expect(caught.message).toContain(
      `Cannot create the client cache in "${file}/cache"`,
    );
    expect(caught.hint).toContain("--cache-dir");
  });
});
