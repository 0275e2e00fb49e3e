/**
 * T14: nothing readable on the server. Canary strings are seeded into file contents (small
 * text files, the middle of a multi-chunk file, a compressible file), file and directory names,
 * symlink targets and snapshot tags; the tree is backed up over a real sshd and restored again,
 * with every byte the ssh command carried captured outside the tool (tee-bytes.js). Then the
 * repository's database, its rollback journal (sampled while the backup ran, since SQLite
 * deletes it at each commit) and any WAL, and the captured wire bytes are searched: zero hits.
 * Nor does the unkeyed SHA-256 of any file's plaintext appear anywhere (ids are keyed).
 * CI seeds 10 canaries, the long run 50.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  promises as fsp,
  readFileSync,
  readdirSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { DATABASE_FILE } from "../helpers/constants.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";
import { count } from "../helpers/counts.js";
import { seededBytes } from "../helpers/prng.js";
import { startSshd, type Sshd } from "../helpers/sshd.js";

const CANARIES = count(10, 50);

let sshd: Sshd;
let work: string;
let source: string;
let repoPath: string;
let capture: string;
let env: Record<string, string>;
const canaries: string[] = [];
const plaintextHashes: Buffer[] = [];
/** Every distinct content of a journal or WAL file seen next to the database. */
const journals = new Map<string, Buffer>();

beforeAll(async () => {
  sshd = await startSshd();
  work = await tempDir("blindsync-t14-");
  source = join(work, "source");
  repoPath = join(work, "repo");
  capture = join(work, "wire");
  env = {
    BLINDSYNC_SSH: `${process.execPath} ${join(PROJECT_ROOT, "test/helpers/tee-bytes.js")} ${capture} ${sshd.sshCommand}`,
    BLINDSYNC_REMOTE_CMD: `${process.execPath} ${CLI}`,
  };
  for (let index = 0; index < CANARIES; index++)
    canaries.push(`cnry${index}-${randomBytes(8).toString("hex")}`);
  await fsp.mkdir(source);
  // Each canary appears in a name and in content, in one of several shapes.
  for (const [index, canary] of canaries.entries()) {
    const dir = join(source, index % 3 === 0 ? `dir-${canary}` : "plain-dir");
    await fsp.mkdir(dir, { recursive: true });
    const content =
      index % 2 === 0
        ? `the secret is ${canary}\n`.repeat(1 + index)
        : Buffer.concat([
            seededBytes(index + 1, 700_000),
            Buffer.from(canary),
            seededBytes(index + 2, 700_000),
          ]);
    const path = join(dir, `file-${canary}.txt`);
    await fsp.writeFile(path, content);
    plaintextHashes.push(createHash("sha256").update(content).digest());
    if (index % 4 === 1)
      await fsp.symlink(`target-${canary}`, join(source, `link-${index}`));
  }
}, 120_000);

afterAll(async () => {
  await sshd.stop();
  await removeDir(work);
});

/** Samples the repository directory every few ms, keeping each journal/WAL content seen. */
function watchJournals(): () => Promise<void> {
  const state = { stop: false };
  const loop = (async () => {
    while (!state.stop) {
      if (existsSync(repoPath)) {
        for (const name of readdirSync(repoPath)) {
          if (!/-(journal|wal|shm)$/.test(name)) continue;
          try {
            const bytes = readFileSync(join(repoPath, name));
            journals.set(
              createHash("sha256").update(bytes).digest("hex"),
              bytes,
            );
          } catch {
            // Deleted between readdir and read: the commit finished.
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return async () => {
    state.stop = true;
    await loop;
  };
}

function hits(haystack: Buffer, where: string): string[] {
  const found: string[] = [];
  for (const canary of canaries)
    if (haystack.includes(Buffer.from(canary)))
      found.push(`${canary} in ${where}`);
  for (const [index, hash] of plaintextHashes.entries())
    if (haystack.includes(hash))
      found.push(`SHA-256 of file ${index} in ${where}`);
  return found;
}

describe("canaries in contents and names never reach the server (T14)", () => {
  it(`${CANARIES} canaries: zero hits in the database, its journal or WAL, and the bytes on the wire`, async () => {
    const stopWatching = watchJournals();
    try {
      const init = await runCli(["init", `127.0.0.1:${repoPath}`], {
        cacheDir: join(work, "cache"),
        env,
      });
      expect(init.code, init.stderr).toBe(0);
      const backup = await runCli(
        [
          "backup",
          source,
          `127.0.0.1:${repoPath}`,
          "--tag",
          `tag-${canaries[0] ?? ""}`,
        ],
        { cacheDir: join(work, "cache"), env },
      );
      expect(backup.code, backup.stderr).toBe(0);
    } finally {
      await stopWatching();
    }
    const target = join(work, "restored");
    const restore = await runCli(["restore", `127.0.0.1:${repoPath}`, target], {
      cacheDir: join(work, "cache"),
      env,
    });
    expect(restore.code, restore.stderr).toBe(0);
    // The canaries really were there to find: the restore holds every one of them.
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );

    const wire = readFileSync(capture);
    const files = readdirSync(repoPath).map((name) => ({
      name,
      bytes: readFileSync(join(repoPath, name)),
    }));
    const database = files.find((file) => file.name === DATABASE_FILE);
    expect(database?.bytes.length ?? 0).toBeGreaterThan(CANARIES * 100_000);
    // The searches can succeed: the plaintext source itself is full of hits.
    expect(
      hits(
        readFileSync(
          join(
            source,
            "plain-dir",
            readdirSync(join(source, "plain-dir"))[0] ?? "",
          ),
        ),
        "source",
      ).length,
    ).toBeGreaterThan(0);
    const found = [
      ...hits(wire, "the wire"),
      ...files.flatMap((file) => hits(file.bytes, file.name)),
      ...[...journals.values()].flatMap((bytes) => hits(bytes, "a journal")),
    ];
    expect(found).toEqual([]);
    // The journal was really sampled: each commit (a sync point, or a buffered batch's 32 MiB
    // or 1 s) runs with synchronous=FULL, whose fsyncs keep the rollback journal on disk long
    // enough for a 2 ms poll.
    expect(journals.size).toBeGreaterThan(0);
    expect(wire.length).toBeGreaterThan(CANARIES * 100_000);
  }, 300_000);
});
