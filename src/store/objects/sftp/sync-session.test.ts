/**
 * The sync session (sync-session.ts): large objects synced in a second sftp session once a
 * store has put enough of them, small ones and the first ones in the uploading session, and
 * every object synced exactly once whatever happens to the second session. Each session's
 * OpenSSH sftp-server logs its requests (`-l VERBOSE`) to a file of its own, which is what
 * these tests read: which process opened, wrote and synced what.
 */

import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SFTP_SERVER } from "../../../../test/helpers/sftp-server.js";
import {
  SftpObjectStore,
  SYNC_SESSION_MIN_OBJECT,
  type SftpObjectStoreOptions,
} from "./sftp-object-store.js";
import { sftpSshArguments } from "./ssh-process.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const LARGE = SYNC_SESSION_MIN_OBJECT;

interface Logged {
  readonly store: SftpObjectStore;
  /** Each session's log, in the order the sessions started. */
  readonly logs: () => Promise<string[]>;
}

/**
 * A store whose ssh command is a stand-in running sftp-server locally, each session logging
 * to `log.N` (N counting sessions from 1). `refuseAfter` sessions, the stand-in fails as ssh
 * does when it cannot log in.
 */
async function openLogged(
  options: Partial<SftpObjectStoreOptions> & { refuseAfter?: number } = {},
): Promise<Logged> {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-sync-session-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const home = join(dir, "home");
  const logs = join(dir, "logs");
  await Promise.all([
    writeFile(join(dir, "count"), ""),
    mkdir(home),
    mkdir(logs),
  ]);
  const refuse = options.refuseAfter ?? 1000;
  // The session's number is the count file's length after appending one byte.
  const script = [
    `printf x >> ${dir}/count`,
    `n=$(wc -c < ${dir}/count)`,
    `if [ "$n" -gt ${refuse} ]; then echo "Permission denied (publickey)." >&2; exit 255; fi`,
    `exec ${SFTP_SERVER} -d ${home} -e -l VERBOSE 2> ${logs}/log.$n`,
  ].join("; ");
  const store = await SftpObjectStore.open({
    host: "backup.example",
    path: "vault",
    create: true,
    sshCommand: `sh -c '${script}'`,
    ...options,
  });
  cleanups.push(() => store.close());
  return {
    store,
    logs: async () => {
      const names = (await readdir(logs)).sort(
        (a, b) => Number(a.slice(4)) - Number(b.slice(4)),
      );
      return Promise.all(
        names.map((name) => readFile(join(logs, name), "utf8")),
      );
    },
  };
}

/** How many files a session's log says it synced. */
function syncs(log: string): number {
  return log.split("\n").filter((line) => line.startsWith("fsync ")).length;
}

function writes(log: string): number {
  return log.split("\n").filter((line) => line.includes("flags WRITE")).length;
}

/**
 * Puts large objects until the second session has synced one (it starts in the background);
 * returns how many were put.
 */
async function putUntilSyncedElsewhere(logged: Logged): Promise<number> {
  for (let i = 0; i < 200; i++) {
    await logged.store.put(
      `packs/aa/large-${i}`,
      new Uint8Array(LARGE).fill(i),
    );
    const logs = await logged.logs();
    if (logs.length > 1 && syncs(logs[1] as string) > 0) return i + 1;
  }
  throw new Error("the second session never synced an object");
}

describe("sftpSshArguments() for the sync session", () => {
  it("adds BatchMode=yes right after ssh, so the second session never asks for a password", () => {
    expect(
      sftpSshArguments(
        { host: "h", port: 2222, sshCommand: "ssh -i key" },
        { batch: true, preferAesGcm: false },
      ),
    ).toEqual([
      "ssh",
      "-o",
      "BatchMode=yes",
      "-i",
      "key",
      "-p",
      "2222",
      "-s",
      "h",
      "sftp",
    ]);
    // Another program's options are its own business.
    expect(
      sftpSshArguments({ host: "h", sshCommand: "my-ssh" }, { batch: true }),
    ).toEqual(["my-ssh", "-s", "h", "sftp"]);
  });
});

describe("SftpObjectStore's sync session", () => {
  it("syncs large objects in a second session once enough were put, everything else in the first", async () => {
    const logged = await openLogged({ syncSessionAfterBytes: 2 * LARGE });
    await logged.store.put("packs/aa/first", new Uint8Array(LARGE));
    expect(await logged.logs()).toHaveLength(1); // under the threshold: no second ssh
    const large = 1 + (await putUntilSyncedElsewhere(logged));
    await logged.store.put("index/small", new Uint8Array(100));
    await logged.store.put("packs/aa/last", new Uint8Array(LARGE).fill(7));

    const [first, second] = (await logged.logs()) as [string, string];
    // Every object synced exactly once, and only the first session writes.
    expect(syncs(first) + syncs(second)).toBe(large + 2);
    expect(writes(second)).toBe(0);
    expect(syncs(second)).toBeGreaterThanOrEqual(2); // the one found above, and "last"
    expect(second).not.toMatch(/fsync "vault\/index/);
    expect(first).toMatch(/fsync "vault\/index\/\.tmp-/);
    // Compared as a Buffer: vitest's deep equality takes seconds over a MiB.
    const last = Buffer.from(await logged.store.get("packs/aa/last"));
    expect(last.equals(Buffer.alloc(LARGE, 7))).toBe(true);
  });

  it("a small backup never opens it", async () => {
    const logged = await openLogged();
    for (let i = 0; i < 3; i++)
      await logged.store.put(`packs/aa/p${i}`, new Uint8Array(LARGE));
    expect(logged.store.syncSshPid).toBeUndefined();
    expect(await logged.logs()).toHaveLength(1);
  });

  it("when the second session cannot log in, everything is synced in the first, and nothing is shown", async () => {
    const shown: string[] = [];
    const logged = await openLogged({
      syncSessionAfterBytes: LARGE,
      refuseAfter: 1,
      onStderr: (line) => shown.push(line),
    });
    for (let i = 0; i < 5; i++)
      await logged.store.put(`packs/aa/p${i}`, new Uint8Array(LARGE));
    expect(logged.store.syncSshPid).toBeDefined(); // it was tried
    const logs = await logged.logs();
    expect(logs).toHaveLength(1);
    expect(syncs(logs[0] as string)).toBe(5);
    expect(shown).toEqual([]);
  });

  it("when the second session is lost, the next objects are synced in the first", async () => {
    const logged = await openLogged({ syncSessionAfterBytes: LARGE });
    const before = await putUntilSyncedElsewhere(logged);
    const pid = logged.store.syncSshPid;
    expect(pid).toBeDefined();
    process.kill(pid as number, "SIGKILL");
    for (let i = 0; i < 3; i++)
      await logged.store.put(`packs/bb/after-${i}`, new Uint8Array(LARGE));
    const [first, second] = (await logged.logs()) as [string, string];
    expect(syncs(first) + syncs(second)).toBe(before + 3);
    expect(await logged.store.stat("packs/bb/after-2")).toEqual({
      name: "packs/bb/after-2",
      size: LARGE,
    });
  });
});
