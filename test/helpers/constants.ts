/**
 * The literals tests share: the passphrase and KDF cost every test repository is made with,
 * and the names of the files a repository and a client cache hold on disk.
 */
export { DATABASE_FILE } from "../../src/store/sqlite/schema.js";

export const TEST_PASSWORD = "correct horse battery staple";

/** The passphrase as the library takes it. */
export const TEST_PASSPHRASE = new TextEncoder().encode(TEST_PASSWORD);

/**
 * KDF cost for in-process repositories: the lowest logN the bounds accept, so a test pays
 * milliseconds, not the default's quarter second. The CLI gets the same through its environment.
 */
export const FAST_SCRYPT = { logN: 15, r: 8, p: 1 } as const;
export const TEST_KDF_LOGN = String(FAST_SCRYPT.logN);

/** Kinds as the `blobs.kind` column of a repository database stores them (docs/storage.md). */
export const KIND = { data: 0, tree: 1, snapshot: 2 } as const;

/** The files of one location's client cache directory (src/repo/cache). */
export const PIN_FILE = "pin.sqlite";
export const CACHE_FILE = "cache.sqlite";
