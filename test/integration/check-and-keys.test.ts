/**
 * `check` and `key` through the built executable on real local repositories: check passes on a
 * healthy repository and exits 13 naming the blob, file and snapshots after stored bytes are
 * flipped; key add, passwd and remove change which passphrases open the repository.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { KIND } from "../helpers/constants.js";
import { blobRows, flipStoredByte, type BlobRow } from "../helpers/database.js";
import { seededBytes } from "../helpers/prng.js";
import { initRepositoryCase } from "../helpers/repositories.js";
import { removeDir, tempDir } from "../helpers/trees.js";

describe("check", () => {
  let work: string;
  let source: string;
  let repo: string;
  let cacheDir: string;
  let victim: BlobRow;
  const cli = (...args: string[]) => runCli(args, { cacheDir });

  beforeAll(async () => {
    work = await tempDir();
    ({ source, repo, cacheDir } = await initRepositoryCase(work));
    mkdirSync(join(source, "docs"), { recursive: true });
    // Over 1 KiB, so that it is a data blob rather than bytes inline in its tree.
    writeFileSync(
      join(source, "docs", "victim.txt"),
      "the file that breaks\n".repeat(60),
    );
    const first = await cli("backup", source, repo);
    expect(first.code, first.stderr).toBe(0);
    const [only, ...rest] = blobRows(repo, KIND.data);
    expect(rest).toHaveLength(0);
    if (only === undefined) throw new Error("no data blob");
    victim = only;
    writeFileSync(join(source, "other.bin"), seededBytes(7, 2_500_000));
    const second = await cli("backup", source, repo);
    expect(second.code, second.stderr).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("--read-data exits 0 and says so on a healthy repository", async () => {
    const result = await cli("check", "--read-data", repo);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/no problems found/);
    expect(result.stdout).toMatch(/Checked 2 snapshots/);
    const plain = await cli("check", repo);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/no problems found/);
  });

  it("refuses a malformed --read-data-subset with a usage error", async () => {
    const result = await cli("check", "--read-data-subset", "4/3", repo);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/read-data-subset/);
    const both = await cli(
      "check",
      "--read-data",
      "--read-data-subset",
      "10%",
      repo,
    );
    expect(both.code).toBe(2);
  });

  it("--read-data exits 13 after a stored byte is flipped, naming the blob, file and snapshots", async () => {
    flipStoredByte(repo, victim.id);
    const shortId = victim.id.toString("hex").slice(0, 8);

    const structure = await cli("check", repo);
    expect(structure.code, structure.stderr).toBe(0);

    const result = await cli("check", "--read-data", repo);
    expect(result.code, result.stdout + result.stderr).toBe(13);
    expect(result.stderr).toMatch(/1 problem found/);
    const line = result.stdout
      .split("\n")
      .find((text) => text.includes(shortId));
    expect(line, result.stdout).toBeDefined();
    expect(line).toMatch(/damaged data blob/);
    expect(line).toMatch(/docs\/victim\.txt/);
    const snapshots = await cli("--json", "snapshots", repo);
    const ids = (JSON.parse(snapshots.stdout) as { id: string }[]).map(
      (snapshot) => snapshot.id.slice(0, 8),
    );
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(line).toContain(id);

    const json = await cli("--json", "check", "--read-data", repo);
    expect(json.code).toBe(13);
    const objects = json.stdout
      .trim()
      .split("\n")
      .map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(objects[0]).toMatchObject({
      type: "problem",
      kind: "damaged-blob",
      id: victim.id.toString("hex"),
      paths: ["docs/victim.txt"],
    });
    expect(objects.at(-1)).toMatchObject({ type: "summary", errors: 1 });
  });

  it("a subset covering the damaged blob finds it, parts n/t together find it once", async () => {
    let found = 0;
    for (let part = 1; part <= 3; part++) {
      const result = await cli(
        "check",
        "--read-data-subset",
        `${part}/3`,
        repo,
      );
      expect([0, 13]).toContain(result.code);
      if (result.code === 13) found++;
    }
    expect(found).toBe(1);
    const all = await cli("check", "--read-data-subset", "100%", repo);
    expect(all.code).toBe(13);
  });
});

describe("key", () => {
  let work: string;
  let repo: string;
  let cacheDir: string;
  const as = (password: string, ...args: string[]) =>
    runCli(args, { cacheDir, env: { BLINDSYNC_PASSWORD: password } });
  const withNew = (password: string, newPassword: string, ...args: string[]) =>
    runCli(args, {
      cacheDir,
      env: {
        BLINDSYNC_PASSWORD: password,
        BLINDSYNC_NEW_PASSWORD: newPassword,
      },
    });
  const slots = async (password: string) => {
    const result = await as(password, "--json", "key", "list", repo);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as {
      name: string;
      current: boolean;
      logN: number;
    }[];
  };

  beforeAll(async () => {
    work = await tempDir();
    repo = join(work, "repo");
    cacheDir = join(work, "cache");
    const init = await as(TEST_PASSWORD, "init", repo);
    expect(init.code, init.stderr).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("key list shows the one slot, marked as in use, with its KDF cost", async () => {
    const result = await as(TEST_PASSWORD, "key", "list", repo);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\* [0-9a-f]{16} {2}scrypt N=2\^15 r=8 p=1/);
    expect(await slots(TEST_PASSWORD)).toHaveLength(1);
  });

  it("key add makes a new passphrase work and keeps the old one", async () => {
    const add = await withNew(
      TEST_PASSWORD,
      "second secret",
      "key",
      "add",
      repo,
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/Added key slot [0-9a-f]{16}/);
    expect((await as("second secret", "snapshots", repo)).code).toBe(0);
    expect((await as(TEST_PASSWORD, "snapshots", repo)).code).toBe(0);
    const listed = await slots("second secret");
    expect(listed).toHaveLength(2);
    expect(listed.filter((slot) => slot.current)).toHaveLength(1);
  });

  it("key add reads the new passphrase from --new-password-file", async () => {
    const file = join(work, "new-pass");
    writeFileSync(file, "third secret\n");
    const add = await as(
      TEST_PASSWORD,
      "key",
      "add",
      "--new-password-file",
      file,
      repo,
    );
    expect(add.code, add.stderr).toBe(0);
    expect((await as("third secret", "snapshots", repo)).code).toBe(0);
  });

  it("key add without a new passphrase and no terminal is a usage error", async () => {
    const result = await as(TEST_PASSWORD, "key", "add", repo);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/new passphrase/);
  });

  it("key passwd: the old passphrase stops working (exit 12), the new one works", async () => {
    const before = await slots(TEST_PASSWORD);
    const passwd = await withNew(
      TEST_PASSWORD,
      "changed secret",
      "key",
      "passwd",
      repo,
    );
    expect(passwd.code, passwd.stderr).toBe(0);
    const old = await as(TEST_PASSWORD, "snapshots", repo);
    expect(old.code).toBe(12);
    expect((await as("changed secret", "snapshots", repo)).code).toBe(0);
    expect((await as("second secret", "snapshots", repo)).code).toBe(0);
    expect(await slots("changed secret")).toHaveLength(before.length);
  });

  it("key remove removes a slot, and refuses the last one", async () => {
    const third = (await slots("third secret")).find((slot) => slot.current);
    if (third === undefined) throw new Error("no current slot");
    const removeThird = await as(
      "changed secret",
      "key",
      "remove",
      repo,
      third.name,
    );
    expect(removeThird.code, removeThird.stderr).toBe(0);
    expect((await as("third secret", "snapshots", repo)).code).toBe(12);

    // Removing the slot in use is allowed while another exists, with a warning.
    const second = (await slots("second secret")).find((slot) => slot.current);
    if (second === undefined) throw new Error("no current slot");
    const removeOwn = await as(
      "second secret",
      "key",
      "remove",
      repo,
      second.name.slice(0, 6),
    );
    expect(removeOwn.code, removeOwn.stderr).toBe(0);
    expect(removeOwn.stderr).toMatch(/warning: .*current passphrase/);
    expect((await as("second secret", "snapshots", repo)).code).toBe(12);

    const [last, ...others] = await slots("changed secret");
    expect(others).toHaveLength(0);
    if (last === undefined) throw new Error("no slot");
    const refused = await as(
      "changed secret",
      "key",
      "remove",
      repo,
      last.name,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/last one/);
    expect((await as("changed secret", "snapshots", repo)).code).toBe(0);
  });

  it("key remove of an unknown slot names the slots that exist", async () => {
    const result = await as("changed secret", "key", "remove", repo, "zzzz");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/No key slot "zzzz"/);
  });
});
