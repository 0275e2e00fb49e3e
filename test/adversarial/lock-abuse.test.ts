/**
 * Locks taken, held or stolen by a connection without the passphrase (issue 17, item 7). The
 * attacker is a real `blindsync serve --append-only` process, as an append-only forced command
 * runs it; the honest user runs the real CLI, through the same forced command (a stand-in for
 * ssh that runs it whatever is asked) or with full access. Shown here:
 * - the append-only connection's exclusive request is refused and takes no lock;
 * - its shared lease is capped at MAX_LEASE_MS however long it asks for;
 * - a refusal, read as raw bytes off the wire, holds no lock id;
 * - releasing or refreshing guessed ids, or removing every lock, leaves the holder's lock alone;
 * - backups succeed while it holds its shared lock, through the forced command and locally;
 * - the prune it blocks exits 11 with a hint naming `blindsync unlock --remove-all`, which
 *   over full access clears the lock (and is refused over the append-only connection).
 */
import { randomBytes } from "node:crypto";
import { promises as fsp, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../src/errors.js";
import {
  FrameDecoder,
  PROTOCOL_VERSION,
  decodeServerMessage,
  encodeFrame,
  encodeMessage,
  type Response,
} from "../../src/protocol/index.js";
import {
  MAX_LEASE_MS,
  RemoteStore,
  SqliteStore,
  type Store,
} from "../../src/store/index.js";
import { CLI, type CliResult, runCli } from "../helpers/cli.js";
import { databaseOf } from "../helpers/database.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";
import { exitOf, spawnServe } from "../helpers/serve-process.js";

const DAY_MS = 24 * 60 * 60 * 1000;
let work: string;
let repo: string;
let source: string;
/** `ssh` as an append-only forced command: runs `serve --append-only` whatever is asked. */
let appendOnlyEnv: Record<string, string>;
/** `ssh` with full access: runs the command asked for, here. */
let fullEnv: Record<string, string>;
const opened: Store[] = [];

function cli(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runCli(args, { cacheDir: join(work, "cache"), env });
}

/** The attacker: a key-less client of a real `serve --append-only`. */
async function appendOnlyClient(): Promise<Store> {
  const serve = spawnServe(["--append-only"]);
  const exited = exitOf(serve.child);
  const store = await RemoteStore.connect(
    { readable: serve.child.stdout, writable: serve.child.stdin },
    {
      path: repo,
      mode: "open",
      onClose: async () => {
        await exited;
      },
    },
  );
  opened.push(store);
  return store;
}

async function fullAccessStore(): Promise<Store> {
  const store = await SqliteStore.open(repo);
  opened.push(store);
  return store;
}

/** The lock rows as stored, straight from the database. */
function storedLocks(): {
  id: string;
  exclusive: number;
  expires_at: number;
}[] {
  const db = new Database(databaseOf(repo), { readonly: true });
  try {
    return db
      .prepare("SELECT id, exclusive, expires_at FROM locks ORDER BY rowid")
      .all() as { id: string; exclusive: number; expires_at: number }[];
  } finally {
    db.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

function expectKind(error: unknown, kind: string): void {
  expect(isBlindsyncError(error), String(error)).toBe(true);
  if (isBlindsyncError(error)) expect(error.kind).toBe(kind);
}

beforeAll(async () => {
  work = await tempDir("blindsync-locks-");
  repo = join(work, "repo");
  source = join(work, "source");
  await fsp.mkdir(source);
  await fsp.writeFile(join(source, "a.txt"), "first\n");
  await fsp.writeFile(join(source, "b.bin"), seededBytes(7, 100_000));
  const forced = join(work, "forced-ssh");
  writeFileSync(
    forced,
    `#!/bin/sh\nexec "${process.execPath}" "${CLI}" serve --append-only\n`,
    { mode: 0o755 },
  );
  const plain = join(work, "plain-ssh");
  writeFileSync(plain, '#!/bin/sh\nshift\nexec sh -c "$1"\n', { mode: 0o755 });
  appendOnlyEnv = { BLINDSYNC_SSH: forced };
  fullEnv = {
    BLINDSYNC_SSH: plain,
    BLINDSYNC_REMOTE_CMD: `${process.execPath} ${CLI}`,
  };
  for (const args of [
    ["init", repo],
    ["backup", source, repo],
  ]) {
    const result = await cli(args);
    expect(result.code, result.stderr).toBe(0);
  }
});

afterEach(async () => {
  for (const store of opened.splice(0).reverse()) await store.close();
  // Whatever a test left behind, the next one starts without locks.
  const cleaner = await SqliteStore.open(repo);
  await cleaner.removeLocks(true);
  await cleaner.close();
});

afterAll(async () => {
  await removeDir(work);
});

describe("locks over an append-only connection", () => {
  it("an exclusive lock is refused and none is taken; backups go on", async () => {
    const attacker = await appendOnlyClient();
    const error = await rejection(
      attacker.acquireLock({
        exclusive: true,
        owner: "prune",
        leaseMs: DAY_MS,
      }),
    );
    expectKind(error, "append-only");
    expect(storedLocks()).toEqual([]);
    await fsp.writeFile(join(source, "a.txt"), "second\n");
    const backup = await cli(["backup", source, `host:${repo}`], appendOnlyEnv);
    expect(backup.code, backup.stderr).toBe(0);
  });

  it("a shared lease asked for a day is granted MAX_LEASE_MS, and backups run beside it", async () => {
    const attacker = await appendOnlyClient();
    const before = Date.now();
    const lock = await attacker.acquireLock({
      exclusive: false,
      owner: "backup",
      leaseMs: DAY_MS,
    });
    expect(lock.acquired && lock.leaseMs).toBe(MAX_LEASE_MS);
    const [row] = storedLocks();
    expect(row?.expires_at).toBeGreaterThanOrEqual(before + MAX_LEASE_MS);
    expect(row?.expires_at).toBeLessThanOrEqual(Date.now() + MAX_LEASE_MS);
    if (lock.acquired) await attacker.refreshLock(lock.id, DAY_MS);
    expect(storedLocks()[0]?.expires_at).toBeLessThanOrEqual(
      Date.now() + MAX_LEASE_MS,
    );
    await fsp.writeFile(join(source, "a.txt"), "third\n");
    const remote = await cli(["backup", source, `host:${repo}`], appendOnlyEnv);
    expect(remote.code, remote.stderr).toBe(0);
    await fsp.writeFile(join(source, "a.txt"), "fourth\n");
    const local = await cli(["backup", source, repo]);
    expect(local.code, local.stderr).toBe(0);
  });

  it("a refusal on the wire names the holder without its lock id", async () => {
    const holder = await fullAccessStore();
    const held = await holder.acquireLock({
      exclusive: true,
      owner: "prune, pid 1",
      leaseMs: 60_000,
    });
    if (!held.acquired) throw new Error("expected the lock");
    const serve = spawnServe(["--append-only"]);
    const out: Buffer[] = [];
    serve.child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    const request = { exclusive: false, owner: "backup", leaseMs: 60_000 };
    for (const message of [
      {
        type: "hello" as const,
        version: PROTOCOL_VERSION,
        capabilities: [],
        path: repo,
        mode: "open" as const,
      },
      { type: "acquire-lock" as const, requestId: 1, request },
      { type: "goodbye" as const, requestId: 2 },
    ])
      serve.child.stdin.write(encodeFrame(encodeMessage(message)));
    expect(await exitOf(serve.child)).toBe(0);
    const raw = Buffer.concat(out);
    expect(raw.includes(held.id)).toBe(false);
    expect(raw.includes(held.id.slice(0, 8))).toBe(false);
    const answer = new FrameDecoder()
      .push(raw)
      .map(decodeServerMessage)
      .find(
        (message): message is Extract<Response, { type: "lock-attempt" }> =>
          message.type === "lock-attempt" && message.requestId === 1,
      );
    expect(answer?.attempt).toEqual({
      acquired: false,
      holders: [
        {
          exclusive: true,
          owner: "prune, pid 1",
          expiresAt: storedLocks()[0]?.expires_at,
        },
      ],
      more: 0,
    });
  });

  it("releasing or refreshing guessed ids, or removing every lock, leaves the holder's lock", async () => {
    const holder = await fullAccessStore();
    const held = await holder.acquireLock({
      exclusive: true,
      owner: "prune, pid 1",
      leaseMs: 60_000,
    });
    if (!held.acquired) throw new Error("expected the lock");
    const attacker = await appendOnlyClient();
    const refused = await attacker.acquireLock({
      exclusive: false,
      owner: "backup",
      leaseMs: 60_000,
    });
    expect(refused.acquired).toBe(false);
    for (const guess of [
      randomBytes(32).toString("hex"),
      randomBytes(12).toString("hex"),
      "",
    ]) {
      await attacker.releaseLock(guess);
      expectKind(
        await rejection(attacker.refreshLock(guess, DAY_MS)),
        "locked",
      );
    }
    expectKind(await rejection(attacker.removeLocks(true)), "append-only");
    expect((await attacker.removeLocks(false)).removed).toBe(0);
    expect(storedLocks().map((row) => row.id)).toEqual([held.id]);
    await holder.refreshLock(held.id, 60_000);
  });
});

describe("blindsync unlock", () => {
  it("a prune blocked by a held shared lock exits 11 naming unlock; unlock --remove-all over full access clears it", async () => {
    const attacker = await appendOnlyClient();
    const lock = await attacker.acquireLock({
      exclusive: false,
      owner: "backup",
      leaseMs: DAY_MS,
    });
    if (!lock.acquired) throw new Error("expected the lock");
    const blocked = await cli(["prune", repo, "--lock-wait", "0"]);
    expect(blocked.code, blocked.stderr).toBe(11);
    expect(blocked.stderr).toContain("blindsync unlock --remove-all");
    expect(blocked.stderr).not.toContain(lock.id.slice(0, 8));
    expect(blocked.stderr).not.toMatch(/within a minute/);

    const refused = await cli(
      ["unlock", "--remove-all", `host:${repo}`],
      appendOnlyEnv,
    );
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/append-only/);
    const stale = await cli(["unlock", `host:${repo}`], appendOnlyEnv);
    expect(stale.code, stale.stderr).toBe(0);
    expect(stale.stdout).toMatch(/Removed 0 expired locks/);
    expect(stale.stdout).toMatch(/Still held: a shared lock held by "backup"/);
    expect(storedLocks()).toHaveLength(1);

    const unlock = await cli(
      ["unlock", "--remove-all", `host:${repo}`],
      fullEnv,
    );
    expect(unlock.code, unlock.stderr).toBe(0);
    expect(unlock.stdout).toMatch(/Removed 1 lock\b/);
    expect(storedLocks()).toEqual([]);
    expectKind(
      await rejection(attacker.refreshLock(lock.id, 60_000)),
      "locked",
    );
    const prune = await cli(["prune", repo, "--lock-wait", "0"]);
    expect(prune.code, prune.stderr).toBe(0);
  });
});
