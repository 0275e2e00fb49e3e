import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CopyIds, type CopyKeys } from "./copy-ids.js";
import { locationDir } from "./location.js";

const LOCATION = "/tmp/some-destination";
const id = (fill: number) => new Uint8Array(32).fill(fill);
const keys: CopyKeys = {
  sourceId: id(1),
  sourceKeyCheck: id(2),
  destinationId: id(3),
  destinationKeyCheck: id(4),
};

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "blindsync-copy-ids-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("CopyIds", () => {
  it("remembers each source blob's destination id across runs, in an owner-only file", async () => {
    const first = CopyIds.open(root, LOCATION, keys);
    first.add([
      [id(10), id(20)],
      [id(11), id(21)],
    ]);
    first.close();
    const again = CopyIds.open(root, LOCATION, keys);
    expect(again.get(id(10))).toEqual(id(20));
    expect(again.get(id(12))).toBeUndefined();
    again.close();
    const file = join(
      locationDir(root, LOCATION),
      `copy-from-${"01".repeat(16)}.sqlite`,
    );
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("starts afresh when either repository has other keys than the rows were made with", () => {
    const first = CopyIds.open(root, LOCATION, keys);
    first.add([[id(10), id(20)]]);
    first.close();
    // A repository made anew at the destination's location: same source, other keys.
    const other = CopyIds.open(root, LOCATION, {
      ...keys,
      destinationKeyCheck: id(5),
    });
    expect(other.get(id(10))).toBeUndefined();
    other.close();
  });
});
