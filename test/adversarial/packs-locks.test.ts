/**
 * Leases planted in a pack directory by someone holding only storage access (issue 19, with
 * issue 17's item 7 for `serve`): a lease object whose expiry lies years ahead, exclusive or
 * shared. No client ever writes one (a lease is capped at MAX_LEASE_MS and refreshed), so no
 * client believes one: backups and prunes run past it, `unlock` removes it as stale, and
 * nothing is locked out for years. A lease that is honestly live (written by a real client a
 * moment ago) still blocks what it must: a prune exits 11 naming `unlock --remove-all`, which
 * clears it.
 */
import { createHash } from "node:crypto";
import { promises as fsp, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LEASE_MS } from "../../src/store/index.js";
import { isCleanError, runCli, type CliResult } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

let work: string;
let repo: string;
let source: string;

function cli(args: readonly string[]): Promise<CliResult> {
  return runCli(args, { cacheDir: join(work, "cache") });
}

/** Writes a lease object as storage can: any name under locks/, any JSON. */
function plantLease(
  name: string,
  lease: { exclusive: boolean; takenAt: number; expiresAt: number },
): string {
  const id = createHash("sha256").update(name).digest("hex");
  writeFileSync(
    join(repo, "locks", id),
    JSON.stringify({
      version: 1,
      owner: `${name}@storage`,
      leaseMs: lease.expiresAt - lease.takenAt,
      ...lease,
    }),
  );
  return id;
}

function locks(): string[] {
  return readdirSync(join(repo, "locks")).filter(
    (name) => !name.startsWith("."),
  );
}

beforeAll(async () => {
  work = await tempDir("blindsync-packs-locks-");
  repo = join(work, "repo");
  source = join(work, "source");
  await fsp.mkdir(source);
  await fsp.writeFile(join(source, "a.bin"), seededBytes(3, 50_000));
  const init = await cli(["init", "--packs", repo]);
  expect(init.code, init.stderr).toBe(0);
  const backup = await cli(["backup", source, repo]);
  expect(backup.code, backup.stderr).toBe(0);
  await fsp.mkdir(join(repo, "locks"), { recursive: true });
});

afterAll(async () => {
  await removeDir(work);
});

describe("leases planted in a pack directory", () => {
  it("an exclusive lease expiring in ten years locks nobody out: unlock removes it as stale, and backup and prune run past another, removing it", async () => {
    const plant = () => {
      const now = Date.now();
      return plantLease("mallory", {
        exclusive: true,
        takenAt: now,
        expiresAt: now + 10 * YEAR_MS,
      });
    };
    const planted = plant();
    const unlock = await cli(["unlock", repo]);
    expect(unlock.code, unlock.stderr).toBe(0);
    expect(unlock.stdout).toMatch(/Removed 1 expired lock\b/);
    expect(locks()).not.toContain(planted);
    plant();
    await fsp.writeFile(join(source, "b.txt"), "after the plant\n");
    const backup = await cli(["backup", source, repo]);
    expect(backup.code, backup.stderr).toBe(0);
    plant();
    const prune = await cli([
      "forget",
      repo,
      "--keep-last",
      "1",
      "--prune",
      "--lock-wait",
      "0",
    ]);
    expect(prune.code, prune.stderr).toBe(0);
    expect(locks()).toStrictEqual([]);
  });

  it("a shared lease expiring in ten years does not hold off a prune either", async () => {
    const now = Date.now();
    plantLease("mallory-shared", {
      exclusive: false,
      takenAt: now - YEAR_MS,
      expiresAt: now + 10 * YEAR_MS,
    });
    const prune = await cli(["prune", repo, "--lock-wait", "0"]);
    expect(prune.code, prune.stderr).toBe(0);
    expect(locks()).toStrictEqual([]);
  });

  it("a live shared lease of the usual length still blocks a prune (11, naming unlock --remove-all), and unlock --remove-all clears it", async () => {
    const now = Date.now();
    plantLease("honest-looking", {
      exclusive: false,
      takenAt: now,
      expiresAt: now + MAX_LEASE_MS,
    });
    const prune = await cli(["prune", repo, "--lock-wait", "0"]);
    expect(prune.code, prune.stderr).toBe(11);
    expect(isCleanError(prune.stderr)).toBe(true);
    expect(prune.stderr).toContain("honest-looking@storage");
    expect(prune.stderr).toContain("blindsync unlock --remove-all");
    const stale = await cli(["unlock", repo]);
    expect(stale.code, stale.stderr).toBe(0);
    expect(stale.stdout).toMatch(/Removed 0 expired locks/);
    const unlock = await cli(["unlock", "--remove-all", repo]);
    expect(unlock.code, unlock.stderr).toBe(0);
    expect(unlock.stdout).toMatch(/Removed 1 lock\b/);
    const again = await cli(["prune", repo, "--lock-wait", "0"]);
    expect(again.code, again.stderr).toBe(0);
  });
});
