/**
 * The byte-level reader and writer of tree blobs (tree.ts): big-endian integers, names and
 * owner names, and the reader's views into the tree's plaintext. Every defect the reader finds
 * is an integrity error, as decodeTree's own checks are.
 */
import { BlindsyncError } from "../errors.js";

/** Owner and group names are at most this many bytes (a u8 length; Linux allows 32). */
const MAX_OWNER_NAME = 255;
// ignoreBOM keeps a leading U+FEFF in the name, so decoding never drops bytes the encoder wrote.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * True for a user or group name a tree may carry: 1 to 255 bytes of UTF-8 without control
 * characters or ":" (which /etc/passwd could not hold either), so a listing can show it as it
 * is and a hostile tree cannot smuggle escape sequences into a terminal through it. A lone
 * surrogate is refused too: it has no UTF-8 form, so it could not come back as it went in.
 */
export function isOwnerName(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_OWNER_NAME)
    return false;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  return !/[\u0000-\u001f\u007f-\u009f:\ud800-\udfff]/u.test(name);
}

export class Writer {
  private buffer = Buffer.allocUnsafe(4096);
  private offset = 0;

  private ensure(extra: number): void {
    if (this.offset + extra <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(
      Math.max(this.buffer.length * 2, this.offset + extra),
    );
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }
  u8(value: number): void {
    this.ensure(1);
    this.buffer.writeUInt8(value, this.offset);
    this.offset += 1;
  }
  u16(value: number): void {
    this.ensure(2);
    this.buffer.writeUInt16BE(value, this.offset);
    this.offset += 2;
  }
  u32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32BE(value, this.offset);
    this.offset += 4;
  }
  u64(value: bigint): void {
    this.ensure(8);
    this.buffer.writeBigUInt64BE(value, this.offset);
    this.offset += 8;
  }
  i64(value: bigint): void {
    this.ensure(8);
    this.buffer.writeBigInt64BE(value, this.offset);
    this.offset += 8;
  }
  bytes(value: Uint8Array): void {
    this.ensure(value.length);
    this.buffer.set(value, this.offset);
    this.offset += value.length;
  }
  /** A u8 length and the name's UTF-8 bytes; length 0 for a name the backup did not resolve. */
  ownerName(name: string | undefined): void {
    if (name === undefined) {
      this.u8(0);
      return;
    }
    if (!isOwnerName(name))
      throw new RangeError(
        `Owner name ${JSON.stringify(name)} is not storable`,
      );
    const bytes = Buffer.from(name, "utf8");
    this.u8(bytes.length);
    this.bytes(bytes);
  }
  finish(): Uint8Array {
    return new Uint8Array(this.buffer.subarray(0, this.offset));
  }
}

export function invalid(reason: string): BlindsyncError {
  return new BlindsyncError("integrity", `Tree blob is malformed: ${reason}`);
}

export class Reader {
  private offset = 0;
  private readonly view: Buffer;

  constructor(bytes: Uint8Array) {
    this.view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(count: number): void {
    if (this.offset + count > this.view.length)
      throw invalid("unexpected end of data");
  }
  u8(): number {
    this.need(1);
    return this.view.readUInt8(this.offset++);
  }
  u16(): number {
    this.need(2);
    const value = this.view.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }
  u32(): number {
    this.need(4);
    const value = this.view.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  u64(): bigint {
    this.need(8);
    const value = this.view.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  i64(): bigint {
    this.need(8);
    const value = this.view.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  /**
   * A view of the next `count` bytes, not a copy: a restore decodes a tree entry per file, and
   * a copy (a fresh ArrayBuffer and two views) per name and id was most of decodeTree's
   * allocation. The views keep the tree's plaintext alive, which is no larger than the entries
   * it describes and is never written after it is opened.
   */
  bytes(count: number): Uint8Array {
    this.need(count);
    const value = new Uint8Array(
      this.view.buffer,
      this.view.byteOffset + this.offset,
      count,
    );
    this.offset += count;
    return value;
  }
  /**
   * See Writer.ownerName: undefined for length 0. A directory's entries nearly always share
   * their owner and group, so a name whose bytes equal the last one decoded and accepted is
   * that same string, without decoding and checking it again.
   */
  ownerName(): string | undefined {
    const length = this.u8();
    if (length === 0) return undefined;
    this.need(length);
    const start = this.offset;
    for (const known of this.ownerNames) {
      if (known.bytes.length === length && this.equalsAt(start, known.bytes)) {
        this.offset += length;
        return known.name;
      }
    }
    const bytes = this.bytes(length);
    let name: string;
    try {
      name = strictUtf8.decode(bytes);
    } catch {
      throw invalid("an owner name is not UTF-8");
    }
    if (!isOwnerName(name)) throw invalid("an owner name is not storable");
    // The last two accepted: typically the owner's and the group's name.
    if (this.ownerNames.length === 2) this.ownerNames.shift();
    this.ownerNames.push({ bytes, name });
    return name;
  }
  private readonly ownerNames: { bytes: Uint8Array; name: string }[] = [];
  private equalsAt(start: number, bytes: Uint8Array): boolean {
    for (let index = 0; index < bytes.length; index++)
      if (this.view[start + index] !== bytes[index]) return false;
    return true;
  }
  get remaining(): number {
    return this.view.length - this.offset;
  }
}
