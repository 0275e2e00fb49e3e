import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Compressor } from "zstd-napi";
import {
  aeadOpen,
  aeadSeal,
  padmeLength,
  SealingSession,
  sessionKey,
  sessionNonce,
} from "../crypto/index.js";
import { isBlindsyncError, type BlindsyncError } from "../errors.js";
import { bytesEqual } from "../util/bytes.js";
import type { BlobKind } from "../store/index.js";
import {
  blobHeaderLength,
  blobIdOf,
  openBlob,
  sealBlob,
  sealedBlobLength,
  type BlobKeys,
  type CompressionMode,
} from "./blob-codec.js";

const keys: BlobKeys = {
  encKey: new Uint8Array(32).fill(0x11),
  idKey: new Uint8Array(32).fill(0x22),
};
const repositoryId = new Uint8Array(32).fill(0x33);
const kinds: BlobKind[] = ["data", "tree", "snapshot"];

function seal(
  plaintext: Uint8Array,
  kind: BlobKind = "data",
  compression: CompressionMode = "auto",
  session = new SealingSession(),
): Uint8Array {
  const id = blobIdOf(keys.idKey, plaintext);
  return sealBlob({
    keys,
    repositoryId,
    session,
    kind,
    id,
    plaintext,
    compression,
  });
}

function open(
  bytes: Uint8Array,
  plaintextOrId: { id: Uint8Array },
  overrides: {
    kind?: BlobKind;
    repositoryId?: Uint8Array;
    maxPlaintext?: number;
  } = {},
): Uint8Array {
  return openBlob({
    keys,
    repositoryId: overrides.repositoryId ?? repositoryId,
    id: plaintextOrId.id,
    expectedKind: overrides.kind ?? "data",
    bytes,
    ...(overrides.maxPlaintext === undefined
      ? {}
      : { maxPlaintext: overrides.maxPlaintext }),
  });
}

function integrityError(run: () => unknown): BlindsyncError {
  try {
    run();
  } catch (error) {
    if (isBlindsyncError(error, "integrity")) return error;
    throw new Error(`expected an integrity error, got ${String(error)}`, {
      cause: error,
    });
  }
  throw new Error("expected an integrity error, but nothing was thrown");
}

/** Decrypts a blob's body without any of openBlob's checks, to inspect or forge it. */
function innerOf(blob: Uint8Array, id: Uint8Array): Uint8Array {
  const header = blob.subarray(0, blobHeaderLength);
  const counter = new DataView(blob.buffer, blob.byteOffset).getBigUint64(
    32,
    false,
  );
  return aeadOpen(
    sessionKey(keys.encKey, header.subarray(8, 32)),
    sessionNonce(counter),
    blob.subarray(blobHeaderLength),
    new Uint8Array([...header, ...repositoryId, ...id]),
  );
}

/** What a key holder could store: a correctly authenticated blob around any body. */
function forge(inner: Uint8Array, id: Uint8Array, kind = 1): Uint8Array {
  const session = new SealingSession();
  const header = new Uint8Array(blobHeaderLength);
  header.set([0x42, 0x53, 0x42, 0x4c, 1, kind, 1, 0]);
  header.set(session.sessionId, 8);
  const sealed = aeadSeal(
    session.keyFor(keys.encKey),
    sessionNonce(0n),
    inner,
    new Uint8Array([...header, ...repositoryId, ...id]),
  );
  // Buffer.concat, not a spread: a forged blob of megabytes would take seconds element by element.
  return new Uint8Array(Buffer.concat([header, sealed]));
}

function body(
  compression: number,
  payload: Uint8Array,
  paddedLength = padmeLength(5 + payload.length),
  declaredLength = payload.length,
): Uint8Array {
  const inner = new Uint8Array(paddedLength);
  inner[0] = compression;
  new DataView(inner.buffer).setUint32(1, declaredLength, false);
  inner.set(payload, 5);
  return inner;
}

const plaintexts = fc.oneof(
  fc.uint8Array({ maxLength: 5000 }),
  // Compressible: a short random pattern repeated.
  fc
    .tuple(
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
      fc.nat({ max: 5000 }),
    )
    .map(([pattern, length]) =>
      Uint8Array.from({ length }, (_, i) => pattern[i % pattern.length]!),
    ),
);

describe("sealBlob() / openBlob()", () => {
  it("open(seal(x)) == x for every kind, size and compressibility", () => {
    fc.assert(
      fc.property(
        plaintexts,
        fc.constantFrom(...kinds),
        fc.constantFrom<CompressionMode>("auto", "off", "max"),
        (plaintext, kind, compression) => {
          const blob = seal(plaintext, kind, compression);
          const id = blobIdOf(keys.idKey, plaintext);
          expect(open(blob, { id }, { kind })).toEqual(plaintext);
          const payloadLength = new DataView(
            innerOf(blob, id).buffer,
          ).getUint32(1, false);
          expect(blob.length).toBe(sealedBlobLength(payloadLength));
          expect(blob.length).toBe(40 + 16 + padmeLength(5 + payloadLength));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("round-trips an empty plaintext and a full 8 MiB chunk", () => {
    for (const plaintext of [
      new Uint8Array(0),
      new Uint8Array(randomBytes(8 * 1024 * 1024)),
    ]) {
      const id = blobIdOf(keys.idKey, plaintext);
      // bytesEqual, not toEqual: a deep comparison of 8 Mi elements takes minutes.
      expect(bytesEqual(open(seal(plaintext), { id }), plaintext)).toBe(true);
    }
  });

  it("keeps the session keys of two repositories apart when their blobs share a session id", () => {
    const sessionId = new Uint8Array(24).fill(0x44);
    const otherKeys: BlobKeys = {
      encKey: new Uint8Array(32).fill(0x55),
      idKey: keys.idKey,
    };
    const plaintext = new TextEncoder().encode("one session id, two keys");
    const id = blobIdOf(keys.idKey, plaintext);
    const sealWith = (with_: BlobKeys): Uint8Array =>
      sealBlob({
        keys: with_,
        repositoryId,
        session: new SealingSession({ sessionId }),
        kind: "data",
        id,
        plaintext,
        compression: "off",
      });
    const ours = sealWith(keys);
    const theirs = sealWith(otherKeys);
    const openWith = (with_: BlobKeys, bytes: Uint8Array): Uint8Array =>
      openBlob({ keys: with_, repositoryId, id, expectedKind: "data", bytes });
    // Alternating, so each open finds the other key's entry among the recent session keys.
    for (let round = 0; round < 3; round++) {
      expect(openWith(keys, ours)).toEqual(plaintext);
      expect(openWith(otherKeys, theirs)).toEqual(plaintext);
      integrityError(() => openWith(otherKeys, ours));
      integrityError(() => openWith(keys, theirs));
    }
  });

  it("opens blobs of more sessions than it keeps recent, in any order", () => {
    const plaintexts = Array.from({ length: 20 }, (_, i) =>
      new TextEncoder().encode(`session ${i}`),
    );
    const blobs = plaintexts.map((plaintext) => ({
      plaintext,
      id: blobIdOf(keys.idKey, plaintext),
      bytes: seal(plaintext, "data", "off", new SealingSession()),
    }));
    for (const index of [0, 19, 3, 0, 12, 19, 7, 0, 15, 1])
      expect(open(blobs[index]!.bytes, blobs[index]!)).toEqual(
        blobs[index]!.plaintext,
      );
  });

  it("writes the header byte by byte as the format says", () => {
    const session = new SealingSession();
    seal(new Uint8Array(1), "data", "auto", session);
    const blob = seal(new Uint8Array(10), "tree", "auto", session);
    expect([...blob.subarray(0, 8)]).toEqual([
      0x42, 0x53, 0x42, 0x4c, 1, 2, 1, 0,
    ]);
    expect(blob.subarray(8, 32)).toEqual(session.sessionId);
    expect(new DataView(blob.buffer).getBigUint64(32, false)).toBe(1n);
  });

  it("compresses what shrinks and stores incompressible data raw", () => {
    const zeros = new Uint8Array(100_000);
    const zerosBlob = seal(zeros);
    expect(innerOf(zerosBlob, blobIdOf(keys.idKey, zeros))[0]).toBe(1);
    expect(zerosBlob.length).toBeLessThan(1000);
    const noise = new Uint8Array(randomBytes(100_000));
    const noiseBlob = seal(noise);
    expect(innerOf(noiseBlob, blobIdOf(keys.idKey, noise))[0]).toBe(0);
    expect(noiseBlob.length).toBe(sealedBlobLength(100_000));
    expect(
      innerOf(seal(zeros, "data", "off"), blobIdOf(keys.idKey, zeros))[0],
    ).toBe(0);
  });

  it("skips compressing a large chunk whose samples are all incompressible, and only such a chunk", () => {
    const size = 1024 * 1024;
    const noise = new Uint8Array(randomBytes(size));
    const noiseBlob = seal(noise);
    expect(innerOf(noiseBlob, blobIdOf(keys.idKey, noise))[0]).toBe(0);
    expect(noiseBlob.length).toBe(sealedBlobLength(size));
    // Random at both ends, compressible in the middle: one sample is enough to compress it.
    const mixed = Uint8Array.from(noise);
    mixed.fill(0x61, size / 4, (3 * size) / 4);
    const mixedBlob = seal(mixed);
    expect(innerOf(mixedBlob, blobIdOf(keys.idKey, mixed))[0]).toBe(1);
    expect(mixedBlob.length).toBeLessThan(size * 0.6);
    // Compressible only at the start.
    const head = Uint8Array.from(noise);
    head.fill(0, 0, 64 * 1024);
    expect(innerOf(seal(head), blobIdOf(keys.idKey, head))[0]).toBe(1);
  });

  describe("compression modes", () => {
    const compressionOf = (blob: Uint8Array, plaintext: Uint8Array) =>
      innerOf(blob, blobIdOf(keys.idKey, plaintext))[0];

    /** Deterministic text: words from a small vocabulary, as prose and source code repeat. */
    function text(length: number, seed: number): Uint8Array {
      const words = [
        "the",
        "backup",
        "repository",
        "function",
        "return",
        "const",
        "chunk",
        "of",
        "and",
        "snapshot",
        "encrypted",
        "server",
        "client",
        "if",
        "else",
      ];
      let state = seed;
      let out = "";
      while (out.length < length) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        out +=
          words[state % words.length]! + ((state >> 8) % 9 === 0 ? ".\n" : " ");
      }
      return new TextEncoder().encode(out.slice(0, length));
    }

    it("off stores every kind raw, even what compresses to almost nothing", () => {
      const zeros = new Uint8Array(200_000);
      for (const kind of kinds) {
        const blob = seal(zeros, kind, "off");
        expect(compressionOf(blob, zeros)).toBe(0);
        expect(blob.length).toBe(sealedBlobLength(zeros.length));
        expect(
          bytesEqual(
            open(blob, { id: blobIdOf(keys.idKey, zeros) }, { kind }),
            zeros,
          ),
        ).toBe(true);
      }
    });

    it("max stores text smaller than auto, and the same reader opens both", () => {
      const plaintext = text(512 * 1024, 7);
      const id = blobIdOf(keys.idKey, plaintext);
      const auto = seal(plaintext, "data", "auto");
      const max = seal(plaintext, "data", "max");
      expect(compressionOf(auto, plaintext)).toBe(1);
      expect(compressionOf(max, plaintext)).toBe(1);
      expect(max.length).toBeLessThan(auto.length);
      expect(bytesEqual(open(auto, { id }), plaintext)).toBe(true);
      expect(bytesEqual(open(max, { id }), plaintext)).toBe(true);
    });

    it("max keeps the incompressible-sample shortcut and the 3 % rule", () => {
      const noise = new Uint8Array(randomBytes(1024 * 1024));
      const blob = seal(noise, "data", "max");
      expect(compressionOf(blob, noise)).toBe(0);
      expect(blob.length).toBe(sealedBlobLength(noise.length));
    });

    it("sealBlob() refuses an unknown mode instead of storing the blob raw", () => {
      expect(() =>
        seal(new Uint8Array(10), "data", "fast" as CompressionMode),
      ).toThrow(RangeError);
    });

    it("auto lets stored sizes confirm a guess of a secret beside it; off does not", () => {
      // CRIME/BREACH in miniature: an attacker who can place a guess next to a secret in
      // the same blob, and sees stored lengths, learns whether the guess matches.
      const letters = "abcdefghijklmnopqrstuvwxyz";
      let state = 12345;
      const word = (length: number): string => {
        let out = "";
        for (let index = 0; index < length; index++) {
          state = (Math.imul(state, 1103515245) + 12345) >>> 0;
          out += letters.charAt((state >>> 16) % letters.length);
        }
        return out;
      };
      const fileWith = (secret: string, guess: string) =>
        new TextEncoder().encode(
          `api_key=${secret}\nnotes: remember the milk\napi_key=${guess}\n`,
        );
      for (let trial = 0; trial < 20; trial++) {
        const secret = word(24);
        const right = fileWith(secret, secret);
        const wrong = fileWith(secret, word(24));
        expect(seal(right, "data", "auto").length).toBeLessThan(
          seal(wrong, "data", "auto").length,
        );
        expect(seal(right, "data", "off").length).toBe(
          seal(wrong, "data", "off").length,
        );
      }
    });
  });

  it("never seals the same plaintext to the same bytes twice", () => {
    const session = new SealingSession();
    const plaintext = new Uint8Array(100);
    expect(seal(plaintext, "data", "auto", session)).not.toEqual(
      seal(plaintext, "data", "auto", session),
    );
  });

  it("openBlob() rejects any single flipped bit as an integrity error", () => {
    fc.assert(
      fc.property(plaintexts, fc.nat(), (plaintext, where) => {
        const blob = seal(plaintext);
        const bit = where % (blob.length * 8);
        blob[bit >> 3]! ^= 1 << (bit & 7);
        integrityError(() =>
          open(blob, { id: blobIdOf(keys.idKey, plaintext) }),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("openBlob() rejects a truncated or extended blob as an integrity error", () => {
    fc.assert(
      fc.property(
        plaintexts,
        fc.integer({ min: 1, max: 200 }),
        fc.boolean(),
        (plaintext, by, extend) => {
          const blob = seal(plaintext);
          const changed = extend
            ? new Uint8Array([...blob, ...new Uint8Array(by)])
            : blob.subarray(0, Math.max(0, blob.length - by));
          integrityError(() =>
            open(changed, { id: blobIdOf(keys.idKey, plaintext) }),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("openBlob() rejects a blob whose AAD names another id, repository or kind", () => {
    fc.assert(
      fc.property(plaintexts, fc.constantFrom(...kinds), (plaintext, kind) => {
        const blob = seal(plaintext, kind);
        const id = blobIdOf(keys.idKey, plaintext);
        const otherId = blobIdOf(keys.idKey, new Uint8Array([...plaintext, 0]));
        integrityError(() => open(blob, { id: otherId }, { kind }));
        integrityError(() =>
          open(
            blob,
            { id },
            { kind, repositoryId: new Uint8Array(32).fill(0x34) },
          ),
        );
        for (const otherKind of kinds.filter((k) => k !== kind))
          integrityError(() => open(blob, { id }, { kind: otherKind }));
        // Relabelling the kind byte in place fails authentication.
        const relabelled = new Uint8Array(blob);
        relabelled[5] = kind === "data" ? 2 : 1;
        integrityError(() =>
          open(relabelled, { id }, { kind: kind === "data" ? "tree" : "data" }),
        );
      }),
      { numRuns: 100 },
    );
  });

  it("openBlob() names the blob and says it failed authentication under another key", () => {
    const plaintext = new Uint8Array(10);
    const id = blobIdOf(keys.idKey, plaintext);
    const error = integrityError(() =>
      openBlob({
        keys: { ...keys, encKey: new Uint8Array(32) },
        repositoryId,
        id,
        expectedKind: "data",
        bytes: seal(plaintext),
      }),
    );
    expect(error.message).toMatch(/^Blob "[0-9a-f]{8}" failed authentication/);
  });

  it("openBlob() turns arbitrary garbage into an integrity error, never a crash", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        (garbage, withHeader) => {
          const bytes = withHeader
            ? new Uint8Array([0x42, 0x53, 0x42, 0x4c, 1, 1, 1, 0, ...garbage])
            : garbage;
          integrityError(() => open(bytes, { id: new Uint8Array(32) }));
        },
      ),
    );
    integrityError(() =>
      open(seal(new Uint8Array(1)), { id: new Uint8Array(31) }),
    );
  });

  it("openBlob() rejects a plaintext above maxPlaintext", () => {
    const plaintext = new Uint8Array(randomBytes(1000));
    const id = blobIdOf(keys.idKey, plaintext);
    expect(open(seal(plaintext), { id }, { maxPlaintext: 1000 })).toEqual(
      plaintext,
    );
    integrityError(() => open(seal(plaintext), { id }, { maxPlaintext: 999 }));
  });

  describe("with a body that authenticates but is malformed (a key holder's forgery)", () => {
    const plaintext = new TextEncoder().encode("hello, blob");
    const id = blobIdOf(keys.idKey, plaintext);

    it("accepts the well-formed forgery, so the rejections below test what they say", () => {
      expect(open(forge(body(0, plaintext), id), { id })).toEqual(plaintext);
    });

    it("skips only the id check when asked to (restore verifies file hashes instead)", () => {
      const other = new TextEncoder().encode("hello, blog");
      const forged = forge(body(0, other), id);
      integrityError(() => open(forged, { id }));
      expect(
        openBlob({
          keys,
          repositoryId,
          id,
          expectedKind: "data",
          bytes: forged,
          checkId: false,
        }),
      ).toEqual(other);
      // Everything else is still checked.
      integrityError(() =>
        openBlob({
          keys,
          repositoryId,
          id,
          expectedKind: "data",
          bytes: forge(body(0, other, 16, 12), id),
          checkId: false,
        }),
      );
    });

    it.each([
      ["an unknown compression byte", () => body(2, plaintext)],
      ["a payload length beyond the body", () => body(0, plaintext, 16, 12)],
      [
        "padding beyond the PADME length",
        () => body(0, plaintext, padmeLength(16) + 8),
      ],
      [
        "non-zero padding",
        () => {
          const inner = body(0, new Uint8Array(100));
          inner[inner.length - 1] = 1;
          return inner;
        },
      ],
      [
        "a non-zero last byte after more than 64 KiB of zero padding",
        () => {
          // 4 MiB + 1: PADME rounds it up to the next 128 KiB.
          const inner = body(0, new Uint8Array(4 * 1024 * 1024 + 1));
          expect(inner.length - 5 - (4 * 1024 * 1024 + 1)).toBeGreaterThan(
            64 * 1024,
          );
          inner[inner.length - 1] = 1;
          return inner;
        },
      ],
      [
        "a raw payload that hashes to another id",
        () => body(0, new TextEncoder().encode("hello, blog")),
      ],
      ["zstd data that is not a frame", () => body(1, plaintext)],
      [
        "a truncated zstd frame",
        () => {
          const frame = new Compressor().compress(new Uint8Array(1000));
          return body(1, frame.subarray(0, frame.length - 2));
        },
      ],
      [
        "two zstd frames",
        () => {
          const frame = new Compressor().compress(plaintext);
          return body(1, new Uint8Array([...frame, ...frame]));
        },
      ],
    ])("openBlob() rejects %s", (_, makeInner) => {
      integrityError(() => open(forge(makeInner(), id), { id }));
    });

    it("openBlob() rejects a zstd frame without a declared size before decompressing", () => {
      const compressor = new Compressor();
      compressor.setParameters({ contentSizeFlag: false });
      const frame = compressor.compress(plaintext);
      const error = integrityError(() =>
        open(forge(body(1, frame), id), { id }),
      );
      expect(error.message).toMatch(/does not declare its size/);
    });

    it("openBlob() rejects a zstd bomb that declares more than maxPlaintext", () => {
      const bomb = new Uint8Array(65 * 1024 * 1024);
      const frame = new Compressor().compress(bomb);
      const bombId = blobIdOf(keys.idKey, bomb);
      const error = integrityError(() =>
        open(forge(body(1, frame), bombId), { id: bombId }),
      );
      expect(error.message).toMatch(/declares 68157440 plaintext bytes/);
    });

    it("openBlob() rejects a blob with an unknown version, algorithm or reserved byte", () => {
      for (const [at, value] of [
        [4, 2],
        [6, 2],
        [7, 1],
      ] as const) {
        const blob = seal(plaintext);
        blob[at] = value;
        integrityError(() => open(blob, { id }));
      }
    });
  });
});
