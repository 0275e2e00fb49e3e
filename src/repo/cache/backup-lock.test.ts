import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../errors.js";
import {
  acquireBackupLock,
  readBackupLockHolder,
  type BackupLockHolder,
} from "./backup-lock.js";
import { locationDir } from "./location.js";

const KEY = "/srv/backups/vault";
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "blindsync-backup-lock-"));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function refusal(waitMs = 0): Promise<unknown> {
  return acquireBackupLock(root, KEY, { waitMs, location: "vault" }).then(
    () => new Error("acquired"),
    (error: unknown) => error,
  );
}

describe("acquireBackupLock()", () => {
  it("lets one backup in at a time, naming the holder's pid, and the next in after release", async () => {
    const lock = await acquireBackupLock(root, KEY);
    expect(readBackupLockHolder(root, KEY)?.pid).toBe(process.pid);
    const error = await refusal();
    expect(isBlindsyncError(error, "locked")).toBe(true);
    expect((error as Error).message).toMatch(
      new RegExp(
        `Another backup of "vault" is running on this machine with the same cache \\(pid ${String(process.pid)}, started \\d{4}-`,
      ),
    );
    lock.release();
    lock.release();
    expect(readBackupLockHolder(root, KEY)).toBeUndefined();
    const next = await acquireBackupLock(root, KEY);
    next.release();
  });

  it("keeps locations apart", async () => {
    const one = await acquireBackupLock(root, KEY);
    const other = await acquireBackupLock(root, `${KEY}-2`);
    other.release();
    one.release();
  });

  it("waits up to waitMs, says so once, and gets in when the holder lets go", async () => {
    const lock = await acquireBackupLock(root, KEY);
    setTimeout(() => {
      lock.release();
    }, 600);
    const told: (BackupLockHolder | undefined)[] = [];
    const started = Date.now();
    const next = await acquireBackupLock(root, KEY, {
      waitMs: 10_000,
      onWait: (holder) => told.push(holder),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(told.map((holder) => holder?.pid)).toEqual([process.pid]);
    next.release();
  });

  it("gives up after waitMs with how long it waited", async () => {
    const lock = await acquireBackupLock(root, KEY);
    const started = Date.now();
    const error = await refusal(700);
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(isBlindsyncError(error, "locked")).toBe(true);
    expect((error as Error).message).toMatch(/\(waited 1 s\)/);
    lock.release();
  });

  it("takes no notice of a record left by a process that is gone", async () => {
    const dir = locationDir(root, KEY);
    const lock = await acquireBackupLock(root, KEY);
    lock.release();
    // The pid of a process that has exited (ours is alive; 2^22 + 1 is above Linux's pid_max).
    writeFileSync(
      join(dir, "backup.holder"),
      JSON.stringify({ pid: 4_194_305, startedAt: new Date().toISOString() }),
    );
    expect(readBackupLockHolder(root, KEY)).toBeUndefined();
    const next = await acquireBackupLock(root, KEY);
    expect(readBackupLockHolder(root, KEY)?.pid).toBe(process.pid);
    next.release();
    expect(existsSync(join(dir, "backup.holder"))).toBe(false);
  });
});
