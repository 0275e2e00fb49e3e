/**
 * The repository config record: what a client needs before it can unlock anything (the
 * repository id, which salts every subkey) and the chunker parameters. It is stored in the
 * clear, so it ends with an HMAC under the config subkey: a server that edits it (to shrink
 * chunks and learn more from their lengths, say) is caught as soon as a key slot opens.
 *
 * Layout: magic "BSCF" | version u8 = 1 | repository id (32) | chunker min u32 | avg u32 |
 * max u32 (big-endian) | HMAC-SHA256(configKey, all preceding bytes) (32). 81 bytes.
 */
import { BlindsyncError } from "../errors.js";
import { keyedId } from "../crypto/index.js";
import type { ChunkerParams } from "../chunker/index.js";
import { bytesEqual } from "../util/bytes.js";

const MAGIC = Buffer.from("BSCF", "ascii");
export const CONFIG_VERSION = 1;
const BODY_LENGTH = 4 + 1 + 32 + 12;
const CONFIG_LENGTH = BODY_LENGTH + 32;

export interface RepositoryConfig {
  readonly repositoryId: Uint8Array;
  readonly chunker: ChunkerParams;
}

function encodeBody(config: RepositoryConfig): Buffer {
  const body = Buffer.alloc(BODY_LENGTH);
  MAGIC.copy(body, 0);
  body.writeUInt8(CONFIG_VERSION, 4);
  body.set(config.repositoryId, 5);
  body.writeUInt32BE(config.chunker.minSize, 37);
  body.writeUInt32BE(config.chunker.avgSize, 41);
  body.writeUInt32BE(config.chunker.maxSize, 45);
  return body;
}

export function encodeConfig(
  config: RepositoryConfig,
  configKey: Uint8Array,
): Uint8Array {
  const body = encodeBody(config);
  return new Uint8Array(Buffer.concat([body, keyedId(configKey, body)]));
}

/** Parses without authenticating: the caller must call verifyConfig once it has the key. */
export function parseConfig(bytes: Uint8Array): RepositoryConfig {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length !== CONFIG_LENGTH || !view.subarray(0, 4).equals(MAGIC)) {
    throw new BlindsyncError(
      "integrity",
      "The repository config is not a blindsync config",
    );
  }
  const version = view.readUInt8(4);
  if (version !== CONFIG_VERSION) {
    throw new BlindsyncError(
      "failed",
      `The repository has format version ${version}`,
      {
        hint: "This blindsync reads version 1; upgrade blindsync",
      },
    );
  }
  return {
    repositoryId: new Uint8Array(view.subarray(5, 37)),
    chunker: {
      minSize: view.readUInt32BE(37),
      avgSize: view.readUInt32BE(41),
      maxSize: view.readUInt32BE(45),
    },
  };
}

export function verifyConfig(bytes: Uint8Array, configKey: Uint8Array): void {
  const body = bytes.subarray(0, BODY_LENGTH);
  if (
    bytes.length !== CONFIG_LENGTH ||
    !bytesEqual(keyedId(configKey, body), bytes.subarray(BODY_LENGTH))
  ) {
    throw new BlindsyncError(
      "integrity",
      "The repository config failed authentication",
      {
        hint: "The server changed it, or it belongs to another repository",
      },
    );
  }
}
