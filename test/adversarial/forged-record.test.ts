/**
 * A key holder who writes a snapshot blob that authenticates but whose record does not decode
 * (not JSON, or JSON of the wrong shape) used to make every command exit 13: listing, backup,
 * restore, check, forget, prune. No client can ever read such a record, so it is skipped with a
 * warning like the garbage a key-less connection can put (keyless-damage.test.ts), named by
 * `check`, and removed by `repair`. Real repository, real built CLI, the record sealed with the
 * repository's real keys.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../../src/util/bytes.js";
import { initRepositoryCase, withRepository } from "../helpers/repositories.js";
import { removeDir, tempDir } from "../helpers/trees.js";

let work: string;

beforeAll(async () => {
  work = await tempDir("blindsync-forged-record-");
});

afterAll(async () => {
  await removeDir(work);
});

/** Seals `text` as a snapshot blob with the real keys and stores it; returns its hex id. */
function putSealedRecord(repo: string, text: string): Promise<string> {
  return withRepository(repo, async (keys) => {
    const plaintext = new TextEncoder().encode(text);
    const blob = keys.seal("snapshot", keys.blobId(plaintext), plaintext);
    await keys.store.put([blob]);
    return toHex(blob.id);
  });
}

describe("a snapshot record that authenticates but does not decode", () => {
  it("is skipped with a warning by every command, named by check, and removed by repair", async () => {
    const { dir, repo, source, cli } = await initRepositoryCase(
      join(work, "case"),
    );
    await fsp.writeFile(join(source, "data.txt"), "honest\n");
    const first = await cli(["backup", source, repo]);
    expect(first.code, first.stderr).toBe(0);

    const notJson = await putSealedRecord(repo, "this is not a record");
    const wrongShape = await putSealedRecord(repo, '{"v":1,"seq":"x"}');
    const warned = (stderr: string): void => {
      for (const id of [notJson, wrongShape])
        expect(stderr).toMatch(
          new RegExp(
            `snapshot blob ${id.slice(0, 16)} skipped: it authenticates but its record does not decode`,
          ),
        );
    };

    const listing = await cli(["snapshots", "--json", repo]);
    expect(listing.code, listing.stderr).toBe(0);
    warned(listing.stderr);
    expect(JSON.parse(listing.stdout)).toHaveLength(1);

    await fsp.writeFile(join(source, "data.txt"), "honest two\n");
    const second = await cli(["backup", source, repo]);
    expect(second.code, second.stderr).toBe(0);
    warned(second.stderr);

    const target = join(dir, "restored");
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fsp.readFile(join(target, "data.txt"), "utf8")).toBe(
      "honest two\n",
    );

    const check = await cli(["check", repo]);
    expect(check.code).toBe(13);
    expect(check.stdout + check.stderr).toContain(notJson);
    expect(check.stdout + check.stderr).toContain(wrongShape);

    const repair = await cli(["repair", repo]);
    expect(repair.code, repair.stderr).toBe(0);
    const clean = await cli(["check", repo]);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stderr).not.toMatch(/skipped/);
    const after = await cli(["snapshots", "--json", repo]);
    expect(JSON.parse(after.stdout)).toHaveLength(2);
  });
});
