/**
 * T17: known-answer vectors. The published vectors live beside each primitive's wrapper:
 *
 *   src/crypto/hkdf.test.ts      RFC 5869 A.1–A.3 (every SHA-256 case)
 *   src/crypto/kdf.test.ts       RFC 7914 §12 vectors 1 and 2 (N = 16, N = 1024)
 *   src/crypto/aead.test.ts      McGrew & Viega GCM test cases 13–16 (every 256-bit key, 96-bit IV case)
 *   src/crypto/keyed-id.test.ts  RFC 4231 cases 1–4, 6, 7 (HMAC-SHA-256); FIPS 180-2 SHA-256
 *   src/crypto/padme.test.ts     PADME lengths worked from the paper's definition
 *   src/chunker/fastcdc.test.ts  golden chunk boundaries (src/chunker/golden-chunks.json)
 *
 * This file re-runs one vector of each through the wrappers blindsync really calls (so a
 * wrapper swapped for a wrong one fails here too), adds the RFC 7914 vectors the unit tests
 * leave out (vector 3, N = 16384; vector 4, N = 2^20 in the long run only, 1 GiB of memory),
 * and builds the documented formats (docs/design.md: subkeys, session keys, the blob, the key
 * slot, the config MAC) independently from node:crypto, byte for byte, to check the product's
 * codecs agree with the specification a second implementation would follow.
 * Not added: Wycheproof's GCM suite (its 256-bit, 96-bit-IV cases exercise node's OpenSSL,
 * which McGrew & Viega already pin) and ChaCha20-Poly1305 (blindsync does not use it).
 */
import {
  createCipheriv,
  createHmac,
  hkdfSync,
  scrypt as nodeScryptCallback,
} from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  SealingSession,
  aeadOpen,
  aeadSeal,
  deriveFromPassphrase,
  hkdfSha256,
  keyedId,
  padmeLength,
  scryptKey,
} from "../../src/crypto/index.js";
import { openBlob, sealBlob } from "../../src/repo/blob-codec.js";
import { encodeConfig, verifyConfig } from "../../src/repo/config.js";
import {
  deriveSubkeys,
  keyCheckValue,
  openKeySlot,
} from "../../src/repo/keys.js";
import { fromHex, toHex } from "../../src/util/bytes.js";
import { LONG } from "../helpers/counts.js";

function nodeScrypt(
  password: string,
  salt: string,
  N: number,
  r: number,
  p: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    nodeScryptCallback(
      password,
      salt,
      64,
      { N, r, p, maxmem: 128 * r * (N + p) + 64 * 1024 * 1024 },
      (error, key) => {
        if (error) reject(error);
        else resolve(key.toString("hex"));
      },
    );
  });
}

const bytes = (...parts: (Uint8Array | string)[]): Buffer =>
  Buffer.concat(
    parts.map((part) =>
      typeof part === "string" ? Buffer.from(part) : Buffer.from(part),
    ),
  );
const range = (from: number, to: number): Uint8Array =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("published vectors through the wrappers blindsync calls (T17)", () => {
  it("hkdfSha256() gives RFC 5869 test case 1", () => {
    expect(
      toHex(
        hkdfSha256(
          new Uint8Array(22).fill(0x0b),
          range(0x00, 0x0c),
          range(0xf0, 0xf9),
          42,
        ),
      ),
    ).toBe(
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    );
  });

  it("keyedId() gives RFC 4231 test case 2", () => {
    expect(
      toHex(keyedId(bytes("Jefe"), bytes("what do ya want for nothing?"))),
    ).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });

  it("aeadSeal() and aeadOpen() give GCM test case 16 (partial block, AAD)", () => {
    const key = fromHex(
      "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    );
    const iv = fromHex("cafebabefacedbaddecaf888");
    const plaintext = fromHex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    const aad = fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const expected =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
      "76fc6ece0f4e1768cddf8853bb2d551b";
    const sealed = aeadSeal(key, iv, plaintext, aad);
    expect(toHex(sealed)).toBe(expected);
    expect(aeadOpen(key, iv, sealed, aad)).toEqual(plaintext);
  });

  /** blindsync's scrypt of RFC 7914's vectors 3 and 4, which differ only in N. */
  const rfcScrypt = (logN: number): Promise<Uint8Array> =>
    scryptKey({
      passphrase: new TextEncoder().encode("pleaseletmein"),
      salt: new TextEncoder().encode("SodiumChloride"),
      logN,
      r: 8,
      p: 1,
      length: 64,
    });

  const vector3 =
    "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2" +
    "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887";

  it("node's scrypt gives RFC 7914 vector 3 (N = 16384, r = 8, p = 1)", async () => {
    expect(
      await nodeScrypt("pleaseletmein", "SodiumChloride", 16384, 8, 1),
    ).toBe(vector3);
  });

  it("blindsync's scrypt (ROMix in the native addon) gives RFC 7914 vector 3", async () => {
    expect(toHex(await rfcScrypt(14))).toBe(vector3);
  });

  it.runIf(LONG)(
    "node's scrypt and blindsync's give RFC 7914 vector 4 (N = 2^20, the top of blindsync's bounds; long run only)",
    async () => {
      const vector4 =
        "2101cb9b6a511aaeaddbbe09cf70f881ec568d574a2ffd4dabe5ee9820adaa47" +
        "8e56fd8f4ba5d09ffa1c6d927c40f4c337304049e8a952fbcbf45c6fa77a41a4";
      expect(
        await nodeScrypt("pleaseletmein", "SodiumChloride", 2 ** 20, 8, 1),
      ).toBe(vector4);
      expect(toHex(await rfcScrypt(20))).toBe(vector4);
    },
    120_000,
  );

  it("padmeLength() gives the paper's examples and fixes its own outputs", () => {
    for (const [length, padded] of [
      [9, 10],
      [100, 104],
      [1000, 1024],
      [1025, 1088],
      [1_000_000, 1_015_808],
    ] as const) {
      expect(padmeLength(length)).toBe(padded);
      expect(padmeLength(padded)).toBe(padded);
    }
  });
});

describe("the documented formats rebuilt from node:crypto alone (T17)", () => {
  const master = range(0x40, 0x5f);
  const repositoryId = range(0x80, 0x9f);
  const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: string): Buffer =>
    Buffer.from(hkdfSync("sha256", ikm, salt, info, 32));
  const spec = {
    enc: hkdf(master, repositoryId, "blindsync/v1/enc"),
    id: hkdf(master, repositoryId, "blindsync/v1/id"),
    chunker: hkdf(master, repositoryId, "blindsync/v1/chunker"),
    config: hkdf(master, repositoryId, "blindsync/v1/config"),
    head: hkdf(master, repositoryId, "blindsync/v1/head"),
  };

  it("derives the subkeys and the key check value as docs/design.md specifies", () => {
    const keys = deriveSubkeys(master, repositoryId);
    expect(Buffer.from(keys.encKey)).toEqual(spec.enc);
    expect(Buffer.from(keys.idKey)).toEqual(spec.id);
    expect(Buffer.from(keys.chunkerKey)).toEqual(spec.chunker);
    expect(Buffer.from(keys.configKey)).toEqual(spec.config);
    expect(Buffer.from(keys.headKey)).toEqual(spec.head);
    expect(Buffer.from(keyCheckValue(keys))).toEqual(
      createHmac("sha256", spec.head).update("blindsync key check").digest(),
    );
  });

  it("seals a blob byte for byte as the documented header, session key, nonce, padding and AAD give", () => {
    const keys = deriveSubkeys(master, repositoryId);
    const sessionId = range(0x10, 0x27);
    const plaintext = bytes("known answer for the blob format\n");
    const id = createHmac("sha256", spec.id).update(plaintext).digest();
    const session = new SealingSession({ sessionId });
    session.nextCounter();
    session.nextCounter(); // the third seal of a session: counter 2
    const sealed = sealBlob({
      keys,
      repositoryId,
      session,
      kind: "tree",
      id,
      plaintext,
      compression: "off",
    });
    const header = Buffer.alloc(40);
    header.write("BSBL", 0, "ascii");
    header.set([1, 2, 1, 0], 4);
    header.set(sessionId, 8);
    header.writeBigUInt64BE(2n, 32);
    const inner = Buffer.alloc(padmeLength(5 + plaintext.length));
    inner.writeUInt8(0, 0);
    inner.writeUInt32BE(plaintext.length, 1);
    plaintext.copy(inner, 5);
    const sessionKey = hkdf(spec.enc, sessionId, "blindsync/v1/session-key");
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64BE(2n, 4);
    const cipher = createCipheriv("aes-256-gcm", sessionKey, nonce);
    cipher.setAAD(bytes(header, repositoryId, id));
    const expected = bytes(
      header,
      cipher.update(inner),
      cipher.final(),
      cipher.getAuthTag(),
    );
    expect(toHex(sealed)).toBe(toHex(expected));
    expect(
      Buffer.from(
        openBlob({
          keys,
          repositoryId,
          id,
          expectedKind: "tree",
          bytes: expected,
        }),
      ),
    ).toEqual(plaintext);
  });

  it("opens a key slot built by hand from the documented layout, KDF and AAD", async () => {
    const salt = range(0xa0, 0xbf);
    const nonce = range(0xc0, 0xcb);
    const passphrase = bytes("known answer passphrase");
    const head = bytes("BSKS", Uint8Array.of(1, 1, 15, 8, 1), salt);
    const kek = await deriveFromPassphrase(passphrase, {
      logN: 15,
      r: 8,
      p: 1,
      salt,
    });
    const cipher = createCipheriv("aes-256-gcm", kek, nonce);
    cipher.setAAD(bytes("blindsync-key/v1", repositoryId, head));
    const slot = bytes(
      head,
      nonce,
      cipher.update(master),
      cipher.final(),
      cipher.getAuthTag(),
    );
    expect(slot.length).toBe(101);
    const opened = await openKeySlot(passphrase, slot, repositoryId);
    expect(opened === undefined ? undefined : Buffer.from(opened)).toEqual(
      Buffer.from(master),
    );
    expect(
      await openKeySlot(bytes("another passphrase"), slot, repositoryId),
    ).toBeUndefined();
  });

  it("authenticates the config record with HMAC(configKey, bytes 0..48) as documented", () => {
    const chunker = { minSize: 512 * 1024, avgSize: 1 << 20, maxSize: 8 << 20 };
    const body = Buffer.alloc(49);
    body.write("BSCF", 0, "ascii");
    body.writeUInt8(1, 4);
    body.set(repositoryId, 5);
    body.writeUInt32BE(chunker.minSize, 37);
    body.writeUInt32BE(chunker.avgSize, 41);
    body.writeUInt32BE(chunker.maxSize, 45);
    const expected = bytes(
      body,
      createHmac("sha256", spec.config).update(body).digest(),
    );
    const encoded = encodeConfig({ repositoryId, chunker }, spec.config);
    expect(toHex(encoded)).toBe(toHex(expected));
    expect(() => {
      verifyConfig(expected, spec.config);
    }).not.toThrow();
  });
});
