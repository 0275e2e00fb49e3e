import { MessageChannel, receiveMessageOnPort } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../util/bytes.js";
import { openBlob } from "./blob-codec.js";
import { chunkIdsChecksum } from "./file-checksum.js";
import { Sealer, type SealerSpec } from "./sealer.js";

const keys = {
  encKey: new Uint8Array(32).fill(0x11),
  idKey: new Uint8Array(32).fill(0x22),
};
const repositoryId = new Uint8Array(32).fill(0x33);

function opens(bytes: Uint8Array, id: Uint8Array): Uint8Array {
  return openBlob({
    keys,
    repositoryId,
    id,
    expectedKind: "data",
    bytes,
  });
}

/** The spec as a worker receives it: structured-cloned through a real message port. */
function throughPort(spec: SealerSpec): SealerSpec {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(spec);
  const received = receiveMessageOnPort(port2)?.message as SealerSpec;
  port1.close();
  return received;
}

describe("Sealer", () => {
  it("a sealer built from a cloned spec seals blobs the repository's keys open, in a session of its own", () => {
    const sealer = new Sealer(keys, repositoryId);
    const worker = Sealer.fromSpec(throughPort(sealer.spec()));
    const plaintext = new TextEncoder().encode("the same plaintext");
    const id = sealer.blobId(plaintext);
    expect(bytesEqual(worker.blobId(plaintext), id)).toBe(true);
    const bytes = worker.seal("data", id, plaintext, "off");
    expect(bytesEqual(opens(bytes, id), plaintext)).toBe(true);
    expect(toHex(worker.sessionId)).not.toBe(toHex(sealer.sessionId));
    // The session id is written into the header (bytes 8..32).
    expect(toHex(bytes.subarray(8, 32))).toBe(toHex(worker.sessionId));
  });

  it("starts a new session when one runs out, and every blob still opens", () => {
    const sealer = new Sealer(keys, repositoryId, { sealLimit: 2n });
    const sessions = new Set<string>();
    const plaintext = new Uint8Array([1, 2, 3]);
    const id = sealer.blobId(plaintext);
    for (let index = 0; index < 5; index++) {
      const bytes = sealer.seal("data", id, plaintext);
      sessions.add(toHex(bytes.subarray(8, 32)));
      expect(bytesEqual(opens(bytes, id), plaintext)).toBe(true);
    }
    // Two seals per session: five seals take three sessions.
    expect(sessions.size).toBe(3);
  });

  it("a sealer built from a cloned spec computes the repository's whole-file checksums, and one built without the key refuses", () => {
    const fileChecksumKey = new Uint8Array(32).fill(0x44);
    const sealer = new Sealer(keys, repositoryId, { fileChecksumKey });
    const worker = Sealer.fromSpec(throughPort(sealer.spec()));
    const content = [worker.blobId(new Uint8Array([1, 2, 3]))];
    const checksum = worker.fileChecksum(3, content);
    expect(checksum.kind).toBe("chunk-ids");
    expect(toHex(checksum.digest)).toBe(
      toHex(chunkIdsChecksum(fileChecksumKey, 3, content).digest),
    );
    const withoutKey = Sealer.fromSpec(
      throughPort(new Sealer(keys, repositoryId).spec()),
    );
    expect(() => withoutKey.fileChecksum(3, content)).toThrow(TypeError);
  });
});
