/**
 * Connection hints: what this client remembers of a location from its last connection, public
 * data only, read before connecting so the next one can start sooner (the key slot to derive
 * from while the connection is made, and the server's AES answer to pick a cipher).
 */
import type Database from "better-sqlite3";
import { BUSY_TIMEOUT_MS, readCacheDatabase } from "./schema.js";

/** What this client remembers of a location from its last connection: public data only. */
export interface ConnectionHints {
  /** The key slot that last opened it (repo/early-kdf.ts); the server stores the same bytes. */
  readonly keySlot: Uint8Array | undefined;
  /**
   * Whether its server said its CPU has AES instructions (store/remote/ssh-ciphers.ts);
   * undefined when it was never asked.
   */
  readonly serverHasAes: boolean | undefined;
}

/** The one value of a single-row hint table; undefined when a cache from before it has none. */
function readHint(
  db: Database.Database,
  table: "key_slot_hint" | "server_hint",
  column: "slot" | "cpu_aes",
): unknown {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
    .get(table);
  if (exists === undefined) return undefined;
  return db
    .prepare(`SELECT ${column} FROM ${table} WHERE only = 1`)
    .pluck()
    .get();
}

/**
 * The hints for a location, read before connecting, in one read-only open that creates
 * nothing; both undefined when there is no cache or it predates them.
 */
export function readConnectionHints(
  cacheRoot: string,
  locationKey: string,
): ConnectionHints {
  const hints = readCacheDatabase(cacheRoot, locationKey, (db) => {
    const slot = readHint(db, "key_slot_hint", "slot");
    const cpuAes = readHint(db, "server_hint", "cpu_aes");
    return {
      keySlot: slot instanceof Buffer ? new Uint8Array(slot) : undefined,
      serverHasAes: typeof cpuAes === "number" ? cpuAes === 1 : undefined,
    };
  });
  return hints ?? { keySlot: undefined, serverHasAes: undefined };
}

/**
 * How long a hint write waits for the cache's write lock. A backup of the same location holds
 * it for its whole run; a hint is worth less than a command that waits (or fails) for it.
 */
const HINT_BUSY_TIMEOUT_MS = 50;

/** The hints' writer, on a cache opened read-write. */
export class HintWriter {
  constructor(private readonly db: Database.Database) {}

  /**
   * Runs a hint's write unless a backup holds the write lock: then the hint is skipped (the
   * next command writes it). Waiting up to busy_timeout, then failing, is what made every
   * command beside a backup exit 1.
   */
  private writeHint(write: () => void): void {
    if (this.db.inTransaction) {
      write();
      return;
    }
    this.db.pragma(`busy_timeout = ${HINT_BUSY_TIMEOUT_MS}`);
    try {
      write();
    } catch (error) {
      if ((error as { code?: unknown }).code !== "SQLITE_BUSY") throw error;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /** Remembers the key slot that opened the repository; written only when it changed. */
  saveKeySlot(slot: Uint8Array): void {
    const known = this.db
      .prepare("SELECT slot FROM key_slot_hint WHERE only = 1")
      .pluck()
      .get() as Buffer | undefined;
    if (known !== undefined && Buffer.from(slot).equals(known)) return;
    this.writeHint(() => {
      this.db
        .prepare(
          `INSERT INTO key_slot_hint (only, slot) VALUES (1, ?)
           ON CONFLICT (only) DO UPDATE SET slot = excluded.slot`,
        )
        .run(slot);
    });
  }

  /** Remembers what the server said about its CPU; written only when it changed. */
  saveServerAes(cpuAes: boolean): void {
    const value = cpuAes ? 1 : 0;
    const known = this.db
      .prepare("SELECT cpu_aes FROM server_hint WHERE only = 1")
      .pluck()
      .get();
    if (known === value) return;
    this.writeHint(() => {
      this.db
        .prepare(
          `INSERT INTO server_hint (only, cpu_aes) VALUES (1, ?)
           ON CONFLICT (only) DO UPDATE SET cpu_aes = excluded.cpu_aes`,
        )
        .run(value);
    });
  }
}
