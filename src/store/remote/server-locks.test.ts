import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../sqlite/sqlite-store.js";
import { RemoteStore } from "./client.js";
import { serveConnection } from "./server.js";

describe("serveConnection() and the locks of its connection", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function connect(path: string, mode: "create" | "open") {
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    const served = serveConnection({
      input: toServer,
      output: toClient,
      openStore: () => SqliteStore.open(path, { create: mode === "create" }),
      log: () => undefined,
    });
    const store = await RemoteStore.connect(
      { readable: toClient, writable: toServer },
      { path: "repo", mode },
    );
    return { store, served, toServer };
  }

  const exclusive = { owner: "prune", leaseMs: 60_000, exclusive: true };

  it("releases a lease the client still held when the connection breaks off", async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-server-locks-"));
    const path = join(dir, "repo");
    const client = await connect(path, "create");
    const taken = await client.store.acquireLock({
      owner: "backup, pid 1",
      leaseMs: 60_000,
      exclusive: false,
    });
    expect(taken.acquired).toBe(true);
    // The client vanishes without a goodbye, as when Ctrl-C kills its ssh.
    client.toServer.end();
    await client.served;
    await client.store.close().catch(() => undefined);

    const after = await SqliteStore.open(path, { create: false });
    try {
      const prune = await after.acquireLock(exclusive);
      expect(prune.acquired).toBe(true);
    } finally {
      await after.close();
    }
  });

  it("leaves alone the locks other connections hold", async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-server-locks-"));
    const path = join(dir, "repo");
    const holder = await connect(path, "create");
    const taken = await holder.store.acquireLock(exclusive);
    expect(taken.acquired).toBe(true);
    const other = await connect(path, "open");
    const attempt = await other.store.acquireLock({
      owner: "backup",
      leaseMs: 60_000,
      exclusive: false,
    });
    expect(attempt.acquired).toBe(false);
    await other.store.close();
    await other.served;

    const after = await SqliteStore.open(path, { create: false });
    try {
      expect((await after.acquireLock(exclusive)).acquired).toBe(false);
    } finally {
      await after.close();
      await holder.store.close();
      await holder.served;
    }
  });
});
