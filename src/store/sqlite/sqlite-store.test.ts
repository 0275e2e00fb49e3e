import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import {
  mkdtemp,
  readdir,
  rm,
  stat,
  truncate,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { storeConformanceSuite } from "../../../test/store-suite.js";
import { BlindsyncError } from "../../errors.js";
import { toHex } from "../../util/bytes.js";
import type { BlobToPut, KeySlot } from "../store.js";
import { DATABASE_FILE, enforceAppendOnly } from "./schema.js";
import { SqliteStore, sqliteIntegrityCheck } from "./sqlite-store.js";
import { MAX_BATCH_AGE_MS, MAX_BATCH_BYTES } from "./write-batch.js";

storeConformanceSuite("SqliteStore", async ({ appendOnly }) => {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-sqlite-"));
  return {
    store: await SqliteStore.open(join(dir, "repo"), {
      create: true,
      appendOnly,
    }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

const slot: KeySlot = {
  name: "0123456789abcdef",
  bytes: new Uint8Array([1, 2]),
};
const config = new Uint8Array([1, 2, 3, 4]);

function blob(length = 1000): BlobToPut {
  return {
    id: new Uint8Array(randomBytes(32)),
    kind: "data",
    bytes: new Uint8Array(randomBytes(length)),
  };
}

async function rejection(promise: Promise<unknown>): Promise<BlindsyncError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BlindsyncError);
  return error as BlindsyncError;
}

describe("SqliteStore on disk", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0))
      await rm(dir, { recursive: true, force: true });
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "blindsync-sqlite-"));
    dirs.push(dir);
    return dir;
  }

  async function repository(blobs: readonly BlobToPut[] = []): Promise<string> {
    const dir = join(await tempDir(), "repo");
    const store = await SqliteStore.open(dir, { create: true });
    await store.create(config, slot);
    await store.put(blobs);
    await store.close();
    return dir;
  }

  it("open() of a missing directory throws no-repository and creates nothing", async () => {
    const dir = join(await tempDir(), "absent", "repo");
    const error = await rejection(SqliteStore.open(dir));
    expect(error.kind).toBe("no-repository");
    expect(error.message).toBe(`No repository at "${dir}"`);
    expect(error.hint).toBe(`Create one with: blindsync init ${dir}`);
    expect(existsSync(join(dir, ".."))).toBe(false);
  });

  it("open() of a directory without a database throws no-repository and creates nothing", async () => {
    const dir = await tempDir();
    expect((await rejection(SqliteStore.open(dir))).kind).toBe("no-repository");
    expect(await readdir(dir)).toEqual([]);
  });

  it("open() with create makes the directory and one database file", async () => {
    const dir = join(await tempDir(), "a", "b");
    const store = await SqliteStore.open(dir, { create: true });
    await store.create(config, slot);
    await store.close();
    expect(await readdir(dir)).toEqual([DATABASE_FILE]);
  });

  it("data survives close and reopen", async () => {
    const blobs = [blob(), blob(70_000)];
    const dir = await repository(blobs);
    const store = await SqliteStore.open(dir);
    expect(await store.readConfig()).toEqual(config);
    expect(await store.listKeySlots()).toEqual([slot]);
    for (const b of blobs) expect(await store.get(b.id)).toEqual(b.bytes);
    await store.close();
  });

  it("gets of one tick share a read transaction that never holds a write: a put right after them is committed when it resolves", async () => {
    const stored = [blob(), blob(), blob()];
    const dir = await repository(stored);
    const store = await SqliteStore.open(dir);
    const other = await SqliteStore.open(dir);
    const reads = stored.map((b) => store.get(b.id));
    const added = blob();
    const writing = store.put([added]);
    expect(await Promise.all(reads)).toEqual(stored.map((b) => b.bytes));
    await writing;
    // A second connection sees the put at once: it was not left inside the read batch.
    expect(await other.get(added.id)).toEqual(added.bytes);
    // A get of a missing blob fails alone; the batch goes on for the others.
    const [missing, present] = await Promise.allSettled([
      store.get(blob().id),
      store.get(added.id),
    ]);
    expect(missing.status).toBe("rejected");
    expect(present).toEqual({ status: "fulfilled", value: added.bytes });
    await other.close();
    await store.close();
  });

  it("open() with create on an existing repository keeps it, and create() refuses", async () => {
    const dir = await repository([blob()]);
    const store = await SqliteStore.open(dir, { create: true });
    expect(
      (await rejection(store.create(new Uint8Array([9]), slot))).kind,
    ).toBe("failed");
    expect(await store.readConfig()).toEqual(config);
    await store.close();
  });

  it("a read-only store reads, and refuses writes", async () => {
    const b = blob();
    const dir = await repository([b]);
    const store = await SqliteStore.open(dir, { readonly: true });
    expect(await store.get(b.id)).toEqual(b.bytes);
    expect((await rejection(store.put([blob()]))).kind).toBe("failed");
    expect((await rejection(store.delete([b.id]))).kind).toBe("failed");
    await store.close();
  });

  it("a garbage file gives a one-line integrity error", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, DATABASE_FILE), randomBytes(100_000));
    const error = await rejection(SqliteStore.open(dir));
    expect(error.kind).toBe("integrity");
    expect(error.message).not.toContain("\n");
    expect(error.message).toContain(DATABASE_FILE);
  });

  it("a truncated database gives a one-line integrity error", async () => {
    const dir = await repository([blob(3_000_000), blob(3_000_000)]);
    const file = join(dir, DATABASE_FILE);
    await truncate(file, Math.floor((await stat(file)).size / 2));
    const error = await rejection(SqliteStore.open(dir));
    expect(error.kind).toBe("integrity");
    expect(error.message).not.toContain("\n");
    expect(sqliteIntegrityCheck(dir)).not.toBe("ok");
  });

  it("a database truncated inside its first page gives an integrity error", async () => {
    const dir = await repository([blob()]);
    await truncate(join(dir, DATABASE_FILE), 1000);
    expect((await rejection(SqliteStore.open(dir))).kind).toBe("integrity");
  });

  it("a SQLite database of another program is not a repository", async () => {
    const dir = await tempDir();
    const db = new Database(join(dir, DATABASE_FILE));
    db.exec("CREATE TABLE t (x)");
    db.close();
    expect((await rejection(SqliteStore.open(dir))).kind).toBe("no-repository");
  });

  it("sqliteIntegrityCheck() says ok for an intact repository", async () => {
    const dir = await repository([blob(), blob(200_000)]);
    expect(sqliteIntegrityCheck(dir)).toBe("ok");
  });

  it("the database refuses DELETE and UPDATE on an append-only connection", async () => {
    const b = blob();
    const dir = await repository([b]);
    const db = new Database(join(dir, DATABASE_FILE));
    enforceAppendOnly(db);
    for (const sql of [
      "DELETE FROM blobs",
      "DELETE FROM blob_data",
      "DELETE FROM key_slots",
      "DELETE FROM config",
      "UPDATE blob_data SET data = x'00'",
      "UPDATE blobs SET kind = 1",
      "UPDATE key_slots SET bytes = x'00'",
      "UPDATE config SET value = x'00'",
    ]) {
      expect(() => db.prepare(sql).run(), sql).toThrow(/append-only/);
    }
    expect(() =>
      db
        .prepare("INSERT OR REPLACE INTO key_slots VALUES (?, x'00')")
        .run(slot.name),
    ).toThrow(/append-only/);
    db.close();
    const store = await SqliteStore.open(dir);
    expect(await store.get(b.id)).toEqual(b.bytes);
    expect(await store.listKeySlots()).toEqual([slot]);
    expect(await store.readConfig()).toEqual(config);
    await store.close();
  });

  it("append-only triggers bind only their own connection", async () => {
    const b = blob();
    const dir = await repository([b]);
    const appendOnly = await SqliteStore.open(dir, { appendOnly: true });
    const pruner = await SqliteStore.open(dir);
    await pruner.delete([b.id]);
    expect(await appendOnly.missing([b.id])).toHaveLength(1);
    await appendOnly.close();
    await pruner.close();
  });

  it("scrub() finds a blob whose stored bytes changed behind the store's back", async () => {
    const [good, bad] = [blob(), blob(100_000)];
    const dir = await repository([good, bad]);
    const db = new Database(join(dir, DATABASE_FILE));
    db.prepare(
      `UPDATE blob_data SET data = ?
       WHERE rowid = (SELECT data_id FROM blobs WHERE id = ?)`,
    ).run(Buffer.from(bad.bytes).fill(bad.bytes[5]! ^ 1, 5, 6), bad.id);
    db.close();
    const store = await SqliteStore.open(dir);
    const found: string[] = [];
    for await (const id of store.scrub()) found.push(toHex(id));
    expect(found).toEqual([toHex(bad.id)]);
    await store.close();
  });

  it("scrub() of an intact repository finds nothing", async () => {
    const dir = await repository([blob(), blob(), blob()]);
    const store = await SqliteStore.open(dir);
    const found: Uint8Array[] = [];
    for await (const id of store.scrub()) found.push(id);
    expect(found).toEqual([]);
    await store.close();
  });
});

describe("SqliteStore sync points (buffered puts)", () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0))
      await rm(dir, { recursive: true, force: true });
  });

  /**
   * A repository with a writer and a second connection, as another process would open it:
   * what the second sees is what is committed, and a commit here is a durable one (rollback
   * journal, synchronous=FULL), so "visible to the other" means "synced".
   */
  async function writerAndReader(): Promise<{
    writer: SqliteStore;
    committed: (id: Uint8Array) => Promise<boolean>;
  }> {
    const dir = join(
      await mkdtemp(join(tmpdir(), "blindsync-sqlite-sync-")),
      "repo",
    );
    dirs.push(dirname(dir));
    const writer = await SqliteStore.open(dir, { create: true });
    stores.push(writer);
    await writer.create(config, slot);
    const reader = await SqliteStore.open(dir, { readonly: true });
    stores.push(reader);
    return {
      writer,
      committed: async (id) => (await reader.missing([id])).length === 0,
    };
  }

  it("a buffered put waits for flush(): its own store sees it at once, another connection only after flush", async () => {
    const { writer, committed } = await writerAndReader();
    const data = blob();
    await writer.put([data], { buffer: true });
    expect(await writer.missing([data.id])).toEqual([]);
    expect(toHex(await writer.get(data.id))).toBe(toHex(data.bytes));
    expect(await committed(data.id)).toBe(false);
    await writer.flush();
    expect(await committed(data.id)).toBe(true);
  });

  it("buffered puts ride in one transaction until a durable write commits them with its own", async () => {
    const { writer, committed } = await writerAndReader();
    const first = blob();
    const second = blob();
    await writer.put([first], { buffer: true });
    await writer.put([second], { buffer: true });
    expect(await committed(first.id)).toBe(false);
    await writer.addKeySlot({ name: "fedcba9876543210", bytes: slot.bytes });
    expect(await committed(first.id)).toBe(true);
    expect(await committed(second.id)).toBe(true);
  });

  it("a put without buffer, or of a snapshot, is committed when it resolves, with the buffered ones before it", async () => {
    const { writer, committed } = await writerAndReader();
    const buffered = blob();
    const snapshot: BlobToPut = { ...blob(), kind: "snapshot" };
    await writer.put([buffered], { buffer: true });
    await writer.put([snapshot], { buffer: true });
    expect(await committed(buffered.id)).toBe(true);
    expect(await committed(snapshot.id)).toBe(true);
    const plainPut = blob();
    await writer.put([plainPut]);
    expect(await committed(plainPut.id)).toBe(true);
  });

  it("an open batch commits by itself after MAX_BATCH_AGE_MS, and at close()", async () => {
    const { writer, committed } = await writerAndReader();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const aged = blob();
    await writer.put([aged], { buffer: true });
    vi.advanceTimersByTime(MAX_BATCH_AGE_MS - 1);
    expect(await committed(aged.id)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await committed(aged.id)).toBe(true);
    const last = blob();
    await writer.put([last], { buffer: true });
    await writer.close();
    expect(await committed(last.id)).toBe(true);
  });

  it("an open batch commits by itself once MAX_BATCH_BYTES of blobs are in it", async () => {
    const { writer, committed } = await writerAndReader();
    // Only the byte bound may commit here: on a busy machine 31 MiB of puts can outlast the
    // age bound, whose timer would commit the batch first.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const size = 1024 * 1024;
    const blobs = Array.from({ length: MAX_BATCH_BYTES / size - 1 }, () =>
      blob(size),
    );
    await writer.put(blobs, { buffer: true });
    expect(await committed(blobs[0]?.id ?? new Uint8Array(32))).toBe(false);
    const last = blob(size);
    await writer.put([last], { buffer: true });
    expect(await committed(last.id)).toBe(true);
  });

  it("a failing buffered put undoes only itself: the batch before it is still committed at flush", async () => {
    const { writer, committed } = await writerAndReader();
    const kept = blob();
    await writer.put([kept], { buffer: true });
    const bad = { ...blob(), id: new Uint8Array(31) };
    await expect(writer.put([bad], { buffer: true })).rejects.toThrow(
      RangeError,
    );
    await writer.flush();
    expect(await committed(kept.id)).toBe(true);
  });
});
