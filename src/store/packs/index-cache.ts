/**
 * The merged index of a pack repository, kept in a SQLite file in the client's cache (or in
 * memory): which segments were applied, superseded or refused, and the blob locations of the
 * applied ones. Opening a repository then reads only the segments it has not seen, and client
 * memory stays flat in the repository's size. Losing the file costs one read of index/.
 *
 * Nothing in it is trusted beyond what it was given: only authenticated segments are applied
 * (pack-store.ts checks them first), and a file made under another key is emptied.
 *
 * Over 400 lines because every statement on these tables lives here, so that the rules of
 * applying, superseding, refusing and forgetting (which must agree) are read in one place.
 */
import Database from "better-sqlite3";
import { BlindsyncError, describeError } from "../../errors.js";
import { toHex } from "../../util/bytes.js";
import type { BlobId, BlobInfo } from "../store.js";
import type { Segment, SegmentPack } from "./segment.js";
import { kindCode, kindOfCode, type PackedKind } from "./wire.js";

const SCHEMA_VERSION = 1;

/**
 * Ids looked up by one statement of knownAmong and locateMany at most. A shorter batch is
 * padded to the next power of two, so that a hint of a dozen ids does not bind 64 and a handful
 * of prepared statements serves every size.
 */
const BATCH_IDS = 64;

/** `count` placeholders for an IN list. */
function placeholders(count: number): string {
  return Array.from({ length: count }, () => "?").join(",");
}

const enum SegmentState {
  Applied = 1,
  Superseded = 2,
  Rejected = 3,
}

/** Where a blob's bytes are. */
export interface BlobLocation {
  readonly pack: string;
  readonly kind: PackedKind;
  readonly offset: number;
  readonly length: number;
}

/** A pack known to the index, with how many of its bytes the index still uses. */
export interface PackUsage {
  readonly pack: string;
  readonly kind: PackedKind;
  readonly regionLength: number;
  readonly liveBytes: number;
}

interface LocationRow {
  readonly pack: string;
  readonly kind: number;
  readonly offset: number;
  readonly length: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
  id TEXT PRIMARY KEY, state INTEGER NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS packs (
  segment TEXT NOT NULL, pack TEXT NOT NULL, kind INTEGER NOT NULL, region INTEGER NOT NULL,
  PRIMARY KEY (segment, pack)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS packs_by_pack ON packs (pack);
CREATE TABLE IF NOT EXISTS blobs (
  id BLOB NOT NULL, segment TEXT NOT NULL, pack TEXT NOT NULL, kind INTEGER NOT NULL,
  offset INTEGER NOT NULL, length INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS blobs_by_id ON blobs (id);
CREATE INDEX IF NOT EXISTS blobs_by_segment ON blobs (segment);
CREATE INDEX IF NOT EXISTS blobs_by_pack ON blobs (pack);
CREATE TABLE IF NOT EXISTS dead (
  id BLOB NOT NULL, pack TEXT NOT NULL, segment TEXT NOT NULL,
  PRIMARY KEY (id, pack, segment)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dead_by_segment ON dead (segment);
CREATE INDEX IF NOT EXISTS dead_by_pack ON dead (pack);
CREATE TABLE IF NOT EXISTS snapshots (id BLOB PRIMARY KEY, length INTEGER NOT NULL) WITHOUT ROWID;
`;

export class IndexCache {
  readonly #db: Database.Database;
  #seq: number;
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#seq =
      (db.prepare("SELECT MAX(seq) FROM segments").pluck().get() as
        number | null) ?? 0;
  }

  /** Opens (or makes) the cache at `path`, ":memory:" for none. */
  static open(path: string): IndexCache {
    let db: Database.Database;
    try {
      db = new Database(path);
      if (path !== ":memory:") db.pragma("journal_mode = WAL");
      // A lost cache costs one read of index/, so it need not survive a power cut.
      db.pragma("synchronous = NORMAL");
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version !== SCHEMA_VERSION) {
        db.exec(
          "DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS segments; DROP TABLE IF EXISTS packs;" +
            " DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS dead; DROP TABLE IF EXISTS snapshots;",
        );
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }
      db.exec(SCHEMA);
    } catch (error) {
      throw new BlindsyncError(
        "failed",
        `Cannot open the pack index cache ${path}: ${describeError(error)}`,
        { hint: "Delete the file; it is rebuilt from the repository's index" },
      );
    }
    return new IndexCache(db);
  }

  /**
   * Empties the cache unless it was filled under the key whose fingerprint this is, so a cache
   * reused for another repository or key never answers for it.
   */
  useKey(fingerprint: Uint8Array): void {
    const stored = this.#get("SELECT value FROM meta WHERE key = 'key'")
      .pluck()
      .get() as Buffer | undefined;
    if (stored !== undefined && Buffer.from(fingerprint).equals(stored)) return;
    this.#db.transaction(() => {
      for (const table of ["segments", "packs", "blobs", "dead", "snapshots"])
        this.#db.exec(`DELETE FROM ${table}`);
      this.#get(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('key', ?)",
      ).run(Buffer.from(fingerprint));
    })();
  }

  /** Whether the segment was seen (applied, superseded or refused): it need not be read. */
  seen(segment: string): boolean {
    return (
      this.#get("SELECT 1 FROM segments WHERE id = ?").get(segment) !==
      undefined
    );
  }

  /** A counter that grows with every segment applied, to tell later ones from earlier. */
  get sequence(): number {
    return this.#seq;
  }

  /**
   * Applies an authenticated segment: its supersedes first (their entries go), then its
   * tombstones, then its entries, in one transaction. Idempotent: a segment seen before is
   * left alone, and so is one a segment applied earlier superseded.
   */
  apply(id: string, segment: Segment): void {
    this.#db.transaction(() => {
      // A segment refused once may come back whole (a writer's resume rewrites the same bytes
      // under the same name); what is applied here has authenticated, so it replaces the refusal.
      this.#get("DELETE FROM segments WHERE id = ? AND state = ?").run(
        id,
        SegmentState.Rejected,
      );
      if (this.seen(id)) return;
      for (const old of segment.supersedes) {
        for (const table of ["blobs", "packs", "dead"])
          this.#get(`DELETE FROM ${table} WHERE segment = ?`).run(old);
        this.#get(
          "INSERT OR REPLACE INTO segments (id, state, seq) VALUES (?, ?, ?)",
        ).run(old, SegmentState.Superseded, this.#seq);
      }
      this.#seq += 1;
      this.#get("INSERT INTO segments (id, state, seq) VALUES (?, ?, ?)").run(
        id,
        SegmentState.Applied,
        this.#seq,
      );
      const insertPack = this.#get(
        "INSERT OR IGNORE INTO packs (segment, pack, kind, region) VALUES (?, ?, ?, ?)",
      );
      for (const pack of segment.packs)
        insertPack.run(id, pack.id, kindCode(pack.kind), pack.regionLength);
      // decodeSegment checked every pack index against the pack table.
      const packOf = (index: number) => segment.packs[index] as SegmentPack;
      for (const tombstone of segment.tombstones) {
        const pack = packOf(tombstone.pack).id;
        const blob = Buffer.from(tombstone.id);
        this.#get(
          "INSERT OR IGNORE INTO dead (id, pack, segment) VALUES (?, ?, ?)",
        ).run(blob, pack, id);
        this.#get("DELETE FROM blobs WHERE id = ? AND pack = ?").run(
          blob,
          pack,
        );
      }
      const guarded = this.#get(
        "INSERT INTO blobs (id, segment, pack, kind, offset, length)" +
          " SELECT @id, @segment, @pack, @kind, @offset, @length WHERE NOT EXISTS" +
          " (SELECT 1 FROM dead WHERE id = @id AND pack = @pack)",
      );
      const plain = this.#get(
        "INSERT INTO blobs (id, segment, pack, kind, offset, length) VALUES (?, ?, ?, ?, ?, ?)",
      );
      // Only a pack with a tombstone anywhere needs each entry checked against them: a new
      // backup's packs have none, and the check cost up to half of each insert.
      const anyDead = this.#get("SELECT 1 FROM dead WHERE pack = ? LIMIT 1");
      const tombstoned = segment.packs.map(
        (pack) => anyDead.get(pack.id) !== undefined,
      );
      for (const entry of segment.entries) {
        const pack = packOf(entry.pack);
        const blob = Buffer.from(entry.id);
        const kind = kindCode(pack.kind);
        if (tombstoned[entry.pack] === true)
          guarded.run({
            id: blob,
            segment: id,
            pack: pack.id,
            kind,
            offset: entry.offset,
            length: entry.length,
          });
        else plain.run(blob, id, pack.id, kind, entry.offset, entry.length);
      }
    })();
  }

  /** Records a segment that did not authenticate: never believed, counted for `check`. */
  reject(id: string): void {
    this.#get(
      "INSERT OR IGNORE INTO segments (id, state, seq) VALUES (?, ?, ?)",
    ).run(id, SegmentState.Rejected, this.#seq);
  }

  /** Ids of the segments refused because they did not authenticate. */
  rejected(): string[] {
    return this.#get("SELECT id FROM segments WHERE state = ? ORDER BY id")
      .pluck()
      .all(SegmentState.Rejected) as string[];
  }

  /** Ids of the applied segments: the live index. */
  applied(): string[] {
    return this.#get("SELECT id FROM segments WHERE state = ? ORDER BY id")
      .pluck()
      .all(SegmentState.Applied) as string[];
  }

  /**
   * Forgets the packs that segments applied up to `sequence` name and storage no longer lists
   * (`listed`): deleted or lost, their blobs must read as missing (and be stored again by the
   * next backup), never as stored. Entries learnt after the listing began are kept.
   */
  forgetUnlistedPacks(listed: ReadonlySet<string>, sequence: number): void {
    const before = "segment IN (SELECT id FROM segments WHERE seq <= ?)";
    const packs = this.#get(`SELECT DISTINCT pack FROM packs WHERE ${before}`)
      .pluck()
      .all(sequence) as string[];
    this.#db.transaction(() => {
      for (const pack of packs) {
        if (listed.has(pack)) continue;
        for (const table of ["blobs", "packs"])
          this.#get(`DELETE FROM ${table} WHERE pack = ? AND ${before}`).run(
            pack,
            sequence,
          );
      }
    })();
  }

  /**
   * Forgets segments seen up to `sequence` that storage no longer lists (`listed`): their
   * entries go, since a blob the index cannot vouch for must read as missing, never as stored.
   */
  forgetUnlisted(listed: ReadonlySet<string>, sequence: number): void {
    const rows = this.#get("SELECT id, state FROM segments WHERE seq <= ?").all(
      sequence,
    ) as {
      id: string;
      state: SegmentState;
    }[];
    this.#db.transaction(() => {
      for (const row of rows) {
        if (listed.has(row.id)) continue;
        // A superseded segment stays remembered: should storage put it back, it is not believed.
        if (row.state === SegmentState.Superseded) continue;
        for (const table of ["blobs", "packs", "dead"])
          this.#get(`DELETE FROM ${table} WHERE segment = ?`).run(row.id);
        this.#get("DELETE FROM segments WHERE id = ?").run(row.id);
      }
    })();
  }

  /** Where the blob is (the first location the index learnt), or undefined. */
  locate(id: BlobId): BlobLocation | undefined {
    return this.locateMany([id])[0];
  }

  /** Every location of the blob, the first learnt first. */
  locateAll(id: BlobId): BlobLocation[] {
    const rows = this.#get(
      "SELECT pack, kind, offset, length FROM blobs WHERE id = ? ORDER BY rowid",
    ).all(Buffer.from(id)) as LocationRow[];
    return rows.map(location);
  }

  /**
   * locate() of each of `ids`, in order, one statement per BATCH_IDS ids (a restore's hints
   * name every small file's blob: 13-20 µs a lookup one by one; docs/performance.md).
   */
  locateMany(ids: readonly BlobId[]): (BlobLocation | undefined)[] {
    const first = new Map<string, BlobLocation>();
    for (const keys of batches(ids)) {
      const statement = this.#get(
        `SELECT id, pack, kind, offset, length FROM blobs WHERE id IN (${placeholders(keys.length)}) ORDER BY rowid`,
      );
      for (const row of statement.all(...keys) as (LocationRow & {
        id: Buffer;
      })[]) {
        const hex = row.id.toString("hex");
        // Rows come in the order the index learnt them: the first is locate()'s answer.
        if (!first.has(hex)) first.set(hex, location(row));
      }
    }
    return ids.map((id) => first.get(toHex(id)));
  }

  /**
   * The blobs the index places in `pack` wholly within [low, high), by offset: the blobs in a
   * gap a read ahead read over (read-ahead.ts).
   */
  extents(
    pack: string,
    low: number,
    high: number,
  ): { offset: number; length: number }[] {
    return this.#get(
      "SELECT offset, length FROM blobs WHERE pack = ? AND offset >= ? AND offset + length <= ? ORDER BY offset",
    ).all(pack, low, high) as { offset: number; length: number }[];
  }

  /** Every pack the blob is in (duplicates from concurrent writers included). */
  packsOf(id: BlobId): { pack: string; kind: PackedKind }[] {
    const rows = this.#get(
      "SELECT DISTINCT pack, kind FROM blobs WHERE id = ?",
    ).all(Buffer.from(id)) as { pack: string; kind: number }[];
    return rows.map((row) => ({ pack: row.pack, kind: kindOf(row.kind) }));
  }

  /** Whether the index has the blob, or storage lists it as a snapshot. */
  has(id: BlobId): boolean {
    return this.knownAmong([id]).size > 0;
  }

  /**
   * The ids among `ids` that the index has or storage lists as snapshots, as hex: one
   * statement per BATCH_IDS ids instead of two per id, which cost 6-12 µs each on a warm cache
   * (a first backup asks for every new blob two or three times; docs/performance.md).
   */
  knownAmong(ids: readonly BlobId[]): Set<string> {
    const known = new Set<string>();
    for (const keys of batches(ids)) {
      const list = placeholders(keys.length);
      const statement = this.#get(
        `SELECT id FROM blobs WHERE id IN (${list})` +
          ` UNION SELECT id FROM snapshots WHERE id IN (${list})`,
      ).pluck();
      for (const id of statement.all(...keys, ...keys) as Buffer[])
        known.add(id.toString("hex"));
    }
    return known;
  }

  /** The pack as the live index knows it, or undefined. */
  packInfo(
    pack: string,
  ): { kind: PackedKind; regionLength: number } | undefined {
    const row = this.#get(
      "SELECT MIN(kind) AS kind, MAX(region) AS region FROM packs WHERE pack = ?",
    ).get(pack) as { kind: number | null; region: number | null };
    return row.kind === null || row.region === null
      ? undefined
      : { kind: kindOf(row.kind), regionLength: row.region };
  }

  /** Whether any applied segment names the pack. */
  knowsPack(pack: string): boolean {
    return (
      this.#get("SELECT 1 FROM packs WHERE pack = ? LIMIT 1").get(pack) !==
      undefined
    );
  }

  /** Up to `limit` indexed blobs after `after` in id order, of `kind` or of both packed kinds. */
  page(after: Uint8Array, limit: number, kind?: PackedKind): BlobInfo[] {
    const rows = (
      kind === undefined
        ? this.#get(
            "SELECT id, MIN(kind) AS kind, MIN(length) AS length FROM blobs WHERE id > ?" +
              " GROUP BY id ORDER BY id LIMIT ?",
          ).all(Buffer.from(after), limit)
        : this.#get(
            "SELECT id, MIN(kind) AS kind, MIN(length) AS length FROM blobs" +
              " WHERE id > ? AND kind = ? GROUP BY id ORDER BY id LIMIT ?",
          ).all(Buffer.from(after), kindCode(kind), limit)
    ) as { id: Buffer; kind: number; length: number }[];
    return rows.map((row) => ({
      id: new Uint8Array(row.id),
      kind: kindOf(row.kind),
      length: row.length,
    }));
  }

  /** Every pack named by the live index, with the bytes its chosen entries use. */
  packUsage(): PackUsage[] {
    const rows = this.#db
      .prepare(
        `SELECT p.pack AS pack, MIN(p.kind) AS kind, MAX(p.region) AS region,
           COALESCE((SELECT SUM(b.length) FROM blobs b WHERE b.pack = p.pack AND b.rowid =
             (SELECT MIN(c.rowid) FROM blobs c WHERE c.id = b.id)), 0) AS live
         FROM packs p GROUP BY p.pack ORDER BY p.pack`,
      )
      .all() as { pack: string; kind: number; region: number; live: number }[];
    return rows.map((row) => ({
      pack: row.pack,
      kind: kindOf(row.kind),
      regionLength: row.region,
      liveBytes: row.live,
    }));
  }

  /** The entries of `pack` the index uses (each blob's first location), in offset order. */
  liveEntries(pack: string): { id: BlobId; offset: number; length: number }[] {
    const rows = this.#get(
      `SELECT b.id AS id, b.offset AS offset, b.length AS length FROM blobs b
       WHERE b.pack = ? AND b.rowid = (SELECT MIN(c.rowid) FROM blobs c WHERE c.id = b.id)
       ORDER BY b.offset`,
    ).all(pack) as { id: Buffer; offset: number; length: number }[];
    return rows.map((row) => ({
      id: new Uint8Array(row.id),
      offset: row.offset,
      length: row.length,
    }));
  }

  /** Every entry any applied segment gives for `pack` (duplicates once), for check. */
  entriesOf(pack: string): { id: BlobId; offset: number; length: number }[] {
    const rows = this.#get(
      "SELECT DISTINCT id, offset, length FROM blobs WHERE pack = ? ORDER BY offset",
    ).all(pack) as { id: Buffer; offset: number; length: number }[];
    return rows.map((row) => ({
      id: new Uint8Array(row.id),
      offset: row.offset,
      length: row.length,
    }));
  }

  /** Replaces what the cache knows of snapshots/ with a fresh listing. */
  setSnapshots(snapshots: readonly { id: BlobId; length: number }[]): void {
    this.#db.transaction(() => {
      this.#db.exec("DELETE FROM snapshots");
      const insert = this.#get(
        "INSERT OR IGNORE INTO snapshots (id, length) VALUES (?, ?)",
      );
      for (const snapshot of snapshots)
        insert.run(Buffer.from(snapshot.id), snapshot.length);
    })();
  }

  addSnapshot(id: BlobId, length: number): void {
    this.#get("INSERT OR IGNORE INTO snapshots (id, length) VALUES (?, ?)").run(
      Buffer.from(id),
      length,
    );
  }

  removeSnapshot(id: BlobId): void {
    this.#get("DELETE FROM snapshots WHERE id = ?").run(Buffer.from(id));
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #get(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * `ids` as keys in batches of BATCH_IDS, a shorter batch filled up to a power of two with its
 * first id again (an IN list ignores the repeats).
 */
function* batches(ids: readonly BlobId[]): Generator<Buffer[]> {
  for (let start = 0; start < ids.length; start += BATCH_IDS) {
    const keys: Buffer[] = ids
      .slice(start, start + BATCH_IDS)
      .map((id) => Buffer.from(id));
    const size = 2 ** Math.ceil(Math.log2(keys.length));
    while (keys.length < size) keys.push(keys[0] as Buffer);
    yield keys;
  }
}

function kindOf(code: number): PackedKind {
  const kind = kindOfCode(code);
  if (kind === undefined)
    throw new Error(`Unknown kind ${code} in the index cache`);
  return kind;
}

function location(row: LocationRow): BlobLocation {
  return {
    pack: row.pack,
    kind: kindOf(row.kind),
    offset: row.offset,
    length: row.length,
  };
}
