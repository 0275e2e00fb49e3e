/**
 * T14 on pack repositories (issue 19): canary strings seeded into file contents (small text
 * files, the middle of a multi-chunk file), file and directory names, symlink targets and a
 * snapshot tag are backed up to a pack directory, over sftp (the account runs only OpenSSH's
 * sftp-server) and to s3rver, and restored exactly. Then every byte the storage keeps (every
 * file under the directory, the sftp server's folder, s3rver's data directory with its
 * metadata) and, for sftp, every byte ssh carried (tee-bytes.js) is searched for the canaries,
 * the passphrase and the unkeyed SHA-256 of each file's plaintext: zero hits.
 */
import { createHash, randomBytes } from "node:crypto";
import { promises as fsp, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { count } from "../helpers/counts.js";
import {
  startPackStorage,
  type PackStorage,
  type StorageKind,
} from "../helpers/pack-storage.js";
import { seededBytes } from "../helpers/prng.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

const TEE = join(PROJECT_ROOT, "test/helpers/tee-bytes.js");

function filesBelow(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isFile());
}

describe.each(["dir", "sftp", "s3"] as StorageKind[])(
  "canaries never reach %s storage (T14 on packs)",
  (kind) => {
    const canaryCount = kind === "dir" ? count(8, 40) : count(4, 20);
    let storage: PackStorage;
    let work: string;
    let source: string;
    const canaries: string[] = [];
    const secrets: Buffer[] = [];

    beforeAll(async () => {
      storage = await startPackStorage(kind);
      work = await tempDir(`blindsync-packs-canaries-${kind}-`);
      source = join(work, "source");
      for (let index = 0; index < canaryCount; index++)
        canaries.push(`cnry${index}-${randomBytes(8).toString("hex")}`);
      await fsp.mkdir(source);
      for (const [index, canary] of canaries.entries()) {
        const dir = join(source, index % 3 === 0 ? `dir-${canary}` : "plain");
        await fsp.mkdir(dir, { recursive: true });
        const content =
          index % 2 === 0
            ? `the secret is ${canary}\n`.repeat(1 + index)
            : Buffer.concat([
                seededBytes(index + 1, 600_000),
                Buffer.from(canary),
                seededBytes(index + 2, 600_000),
              ]);
        await fsp.writeFile(join(dir, `file-${canary}.txt`), content);
        secrets.push(createHash("sha256").update(content).digest());
        if (index % 4 === 1)
          await fsp.symlink(`target-${canary}`, join(source, `link-${index}`));
      }
      secrets.push(Buffer.from(TEST_PASSWORD));
    }, 120_000);

    afterAll(async () => {
      await storage.stop();
      await removeDir(work);
    });

    function hits(haystack: Buffer, where: string): string[] {
      const found = canaries
        .filter((canary) => haystack.includes(Buffer.from(canary)))
        .map((canary) => `${canary} in ${where}`);
      for (const [index, secret] of secrets.entries())
        if (haystack.includes(secret))
          found.push(`secret ${index} in ${where}`);
      return found;
    }

    it(`${canaryCount} canaries, the file names and the passphrase: zero hits in storage${kind === "sftp" ? " and on the wire" : ""}`, async () => {
      const capture = join(work, "wire");
      const env: Record<string, string> = { ...storage.env };
      if (kind === "sftp")
        env.BLINDSYNC_SSH = `${process.execPath} ${TEE} ${capture} ${storage.env.BLINDSYNC_SSH ?? ""}`;
      const cacheDir = join(work, "cache");
      const repo = storage.location("canaries");
      const cli = (args: string[]) => runCli(args, { cacheDir, env });
      const init = await cli(storage.initArgs("canaries"));
      expect(init.code, init.stderr).toBe(0);
      const backup = await cli([
        "backup",
        source,
        repo,
        "--tag",
        `tag-${canaries[0] ?? ""}`,
      ]);
      expect(backup.code, backup.stderr).toBe(0);
      const target = join(work, "restored");
      const restore = await cli(["restore", repo, target]);
      expect(restore.code, restore.stderr).toBe(0);
      // The canaries were there to find: the restore holds every one.
      expect(
        treeDifferences(describeTree(source), describeTree(target)),
      ).toStrictEqual([]);
      const plainFile = readdirSync(join(source, "plain"))[0] ?? "";
      expect(
        hits(readFileSync(join(source, "plain", plainFile)), "source").length,
      ).toBeGreaterThan(0);

      const stored = filesBelow(storage.root("canaries"));
      expect(stored.some((path) => path.includes("packs"))).toBe(true);
      let storedBytes = 0;
      const found: string[] = [];
      for (const path of stored) {
        const bytes = readFileSync(path);
        storedBytes += bytes.length;
        found.push(...hits(bytes, path));
        found.push(...hits(Buffer.from(path), "an object's name"));
      }
      expect(storedBytes).toBeGreaterThan(canaryCount * 100_000);
      if (kind === "sftp") {
        const wire = readFileSync(capture);
        expect(wire.length).toBeGreaterThan(canaryCount * 100_000);
        found.push(...hits(wire, "the wire"));
      }
      expect(found).toStrictEqual([]);
    });
  },
);
