import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hkdfSha256 } from "../crypto/index.js";
import { MemoryStore, type IndexAuthenticator } from "../store/index.js";
import { deriveSubkeys, indexAuthenticator } from "./keys.js";
import { Repository } from "./repository.js";

const master = Uint8Array.from({ length: 32 }, (_, i) => i);
const repositoryId = new Uint8Array(32).fill(0xab);
const message = new TextEncoder().encode("an index segment");

describe("indexAuthenticator()", () => {
  it("MACs with HMAC-SHA256 under HKDF(master, repository id, 'blindsync/v1/index-mac')", () => {
    const key = hkdfSha256(master, repositoryId, "blindsync/v1/index-mac", 32);
    expect(
      Buffer.from(indexAuthenticator(master, repositoryId).mac(message)),
    ).toEqual(createHmac("sha256", key).update(message).digest());
  });

  it("is a key of its own: none of the other subkeys, and another per repository", () => {
    const mac = Buffer.from(
      indexAuthenticator(master, repositoryId).mac(message),
    );
    for (const subkey of Object.values(
      deriveSubkeys(master, repositoryId),
    ) as Uint8Array[])
      expect(mac).not.toEqual(
        createHmac("sha256", subkey).update(message).digest(),
      );
    const other = indexAuthenticator(master, new Uint8Array(32).fill(0xac));
    expect(Buffer.from(other.mac(message))).not.toEqual(mac);
  });

  it("holds no key a caller can read: only mac()", () => {
    expect(Object.keys(indexAuthenticator(master, repositoryId))).toEqual([
      "mac",
    ]);
  });
});

/** A MemoryStore that records the authenticator it is handed. */
class AuthenticatedStore extends MemoryStore {
  authenticator: IndexAuthenticator | undefined;
  authenticate(authenticator: IndexAuthenticator): void {
    this.authenticator = authenticator;
  }
}

describe("Repository hands its store the index authenticator", () => {
  it("on create and on open, the same MAC each time", async () => {
    const store = new AuthenticatedStore();
    const passphrase = new TextEncoder().encode("pw");
    await Repository.create(store, passphrase, {
      scrypt: { logN: 15, r: 1, p: 1 },
    });
    const handed = () => store.authenticator;
    const created = handed()?.mac(message);
    expect(created).toHaveLength(32);
    store.authenticator = undefined;
    await Repository.open(store, passphrase);
    expect(handed()?.mac(message)).toEqual(created);
  });
});
