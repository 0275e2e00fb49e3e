/**
 * A pack: sealed blobs of one kind back to back, then a trailer that lists them, then a fixed
 * footer that says how long the trailer is, so a reader gets the trailer with one ranged get of
 * the pack's tail (as restic's pack header length sits at the end of its packs). The trailer is
 * authenticated with the index MAC: a pack no segment names (an interrupted backup) can be
 * indexed from it, and storage cannot forge one. Layout in docs/pack-format.md.
 *
 *   pack    = blob bytes ... | trailer | footer
 *   trailer = "BSPT" | version u8 = 1 | kind u8 | 0 u16 | count u32 | region length u64
 *             | nonce (16) | count × (blob id (32) | offset u64 | length u32) | MAC (32)
 *
 * The random nonce makes every pack written a new object, even with the same blobs: a blob put
 * again after a delete, or a repack of the same live blobs, must never get the name (and so
 * the fate) of an older pack.
 *   footer  = trailer length u32 | "BSPF"
 *   MAC     = HMAC(index key, "blindsync/v1/pack-trailer\0" | trailer before the MAC)
 */
import { randomBytes } from "node:crypto";
import type { BlobId, IndexAuthenticator } from "../store.js";
import { contentIdOfParts } from "./layout.js";
import {
  MAC_LENGTH,
  Reader,
  Writer,
  damaged,
  kindCode,
  kindOfCode,
  labelledMac,
  macEqual,
  type PackedKind,
} from "./wire.js";

const TRAILER_MAGIC = new TextEncoder().encode("BSPT");
const FOOTER_MAGIC = new TextEncoder().encode("BSPF");
const VERSION = 1;
const TRAILER_LABEL = "blindsync/v1/pack-trailer\0";
const NONCE_LENGTH = 16;
const TRAILER_HEADER_LENGTH = 4 + 1 + 1 + 2 + 4 + 8 + NONCE_LENGTH;
export const TRAILER_ENTRY_LENGTH = 32 + 8 + 4;
export const FOOTER_LENGTH = 8;

/** One blob in a pack, where its bytes are. */
export interface PackEntry {
  readonly id: BlobId;
  readonly offset: number;
  readonly length: number;
}

export interface PackContents {
  readonly kind: PackedKind;
  /** Bytes of blobs before the trailer. */
  readonly regionLength: number;
  readonly entries: readonly PackEntry[];
}

export interface BuiltPack extends PackContents {
  /** Hex SHA-256 of the pack's bytes: its name. */
  readonly id: string;
  /**
   * The pack's bytes in order, not joined: each blob's bytes as given, then the trailer and
   * footer. A store that sends pieces (sftp) writes them without a copy into one buffer.
   */
  readonly parts: readonly Uint8Array[];
  /** The pack's length: the parts' lengths summed. */
  readonly size: number;
}

/**
 * Packs `blobs` (all of `kind`) in the given order, with their trailer and footer. The blobs'
 * bytes are referenced, not copied; the caller leaves them unchanged until the pack is stored.
 */
export function buildPack(
  kind: PackedKind,
  blobs: readonly { readonly id: BlobId; readonly bytes: Uint8Array }[],
  authenticator: IndexAuthenticator,
): BuiltPack {
  const entries: PackEntry[] = [];
  let regionLength = 0;
  for (const blob of blobs) {
    entries.push({
      id: blob.id.slice(),
      offset: regionLength,
      length: blob.bytes.length,
    });
    regionLength += blob.bytes.length;
  }
  const body = new Writer(
    TRAILER_HEADER_LENGTH + entries.length * TRAILER_ENTRY_LENGTH,
  )
    .raw(TRAILER_MAGIC)
    .u8(VERSION)
    .u8(kindCode(kind))
    .u16(0)
    .u32(entries.length)
    .u64(regionLength)
    .raw(randomBytes(NONCE_LENGTH));
  for (const entry of entries)
    body.raw(entry.id).u64(entry.offset).u32(entry.length);
  const mac = labelledMac(authenticator, TRAILER_LABEL, body.bytes);
  const trailerLength = body.bytes.length + MAC_LENGTH;
  const tail = new Writer(trailerLength + FOOTER_LENGTH)
    .raw(body.bytes)
    .raw(mac)
    .u32(trailerLength)
    .raw(FOOTER_MAGIC).bytes;
  const parts = [...blobs.map((blob) => blob.bytes), tail];
  return {
    id: contentIdOfParts(parts),
    parts,
    size: regionLength + tail.length,
    kind,
    regionLength,
    entries,
  };
}

/**
 * How many bytes at the end of a pack of `packSize` bytes hold its trailer and footer, from the
 * footer (its last FOOTER_LENGTH bytes).
 */
export function tailLength(
  footer: Uint8Array,
  packSize: number,
  what: string,
): number {
  if (footer.length !== FOOTER_LENGTH) throw damaged(what, "no footer");
  const reader = new Reader(footer, what);
  const trailerLength = reader.u32();
  if (!bytesAre(reader.raw(4), FOOTER_MAGIC))
    throw damaged(what, "no pack footer");
  const tail = trailerLength + FOOTER_LENGTH;
  if (trailerLength < TRAILER_HEADER_LENGTH + MAC_LENGTH || tail > packSize)
    throw damaged(what, "its footer gives an impossible trailer length");
  return tail;
}

/**
 * Parses and authenticates a pack's trailer from `tail`, the pack's last bytes (at least the
 * trailer and footer), given the pack's whole size. Throws 'integrity' when anything does not
 * add up or the MAC fails: such a trailer is not believed.
 */
export function parsePackTail(
  tail: Uint8Array,
  packSize: number,
  authenticator: IndexAuthenticator,
  what: string,
): PackContents {
  if (tail.length < FOOTER_LENGTH)
    throw damaged(what, "it is too short to be a pack");
  const needed = tailLength(
    tail.subarray(tail.length - FOOTER_LENGTH),
    packSize,
    what,
  );
  if (tail.length < needed)
    throw damaged(what, "the tail read is shorter than its trailer");
  const trailer = tail.subarray(
    tail.length - needed,
    tail.length - FOOTER_LENGTH,
  );
  const body = trailer.subarray(0, trailer.length - MAC_LENGTH);
  const mac = trailer.subarray(trailer.length - MAC_LENGTH);
  if (!macEqual(mac, labelledMac(authenticator, TRAILER_LABEL, body)))
    throw damaged(what, "its trailer does not authenticate");
  const reader = new Reader(body, what);
  if (!bytesAre(reader.raw(4), TRAILER_MAGIC))
    throw damaged(what, "no trailer magic");
  const version = reader.u8();
  if (version !== VERSION)
    throw damaged(what, `unknown trailer version ${version}`);
  const kind = kindOfCode(reader.u8());
  if (kind === undefined || reader.u16() !== 0)
    throw damaged(what, "bad trailer header");
  const count = reader.u32();
  const regionLength = reader.u64();
  reader.raw(NONCE_LENGTH);
  if (reader.remaining !== count * TRAILER_ENTRY_LENGTH)
    throw damaged(what, "its trailer's length does not match its entry count");
  if (regionLength + needed !== packSize)
    throw damaged(what, "its size does not match its trailer");
  const entries: PackEntry[] = [];
  let expected = 0;
  for (let index = 0; index < count; index++) {
    const entry = {
      id: reader.raw(32),
      offset: reader.u64(),
      length: reader.u32(),
    };
    // Blobs are back to back from the start: anything else was not written by a pack writer.
    if (entry.offset !== expected)
      throw damaged(what, "its blobs are not back to back");
    expected += entry.length;
    entries.push(entry);
  }
  if (expected !== regionLength)
    throw damaged(what, "its blobs do not fill its region");
  return { kind, regionLength, entries };
}

function bytesAre(bytes: Uint8Array, expected: Uint8Array): boolean {
  return Buffer.from(bytes).equals(expected);
}
