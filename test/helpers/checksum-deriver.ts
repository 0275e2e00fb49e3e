/**
 * The keyed hashes a tree decoder derives format-5 checksums with (ChecksumDeriver), under
 * fixed test keys: for codec tests that have no repository at hand.
 */
import { createHmac } from "node:crypto";
import {
  chunkIdsChecksum,
  type ChecksumDeriver,
} from "../../src/repo/index.js";

const ID_KEY = new Uint8Array(32).fill(0x11);
const FILE_CHECKSUM_KEY = new Uint8Array(32).fill(0x22);

export const testDeriver: ChecksumDeriver = {
  blobId: (plaintext) =>
    new Uint8Array(createHmac("sha256", ID_KEY).update(plaintext).digest()),
  fileChecksum: (size, content) =>
    chunkIdsChecksum(FILE_CHECKSUM_KEY, size, content),
};
