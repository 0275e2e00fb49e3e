/**
 * The SFTP version 3 wire format (draft-ietf-secsh-filexfer-02, the version OpenSSH speaks):
 * packet numbers, status codes, request encoding, reply decoding and the frame splitter. Pure
 * bytes: no I/O, so a hostile or broken server is caught here, before anything is allocated
 * for it.
 *
 * Every packet is `uint32 length, byte type, payload`; every packet but INIT and VERSION
 * starts its payload with a uint32 request id that the reply repeats.
 *
 * Over 400 lines because the frame splitter places a DATA reply that spans pipe chunks straight
 * into the buffer its READ asked for (DataPlacement): that path checks the same lengths as the
 * plain one, and keeping both beside each other keeps every bound on hostile input in one file.
 */

/** Packet types used by the client (section 3 of the draft; 200/201 are the extensions). */
export const Packet = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  STAT: 17,
  RENAME: 18,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** SSH_FX_* status codes (section 7). */
export const Status = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** SSH_FXF_* flags of OPEN (section 6.3). */
export const OpenFlag = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

/** SSH_FILEXFER_ATTR_* bits of an ATTRS structure (section 5). */
const AttrFlag = {
  SIZE: 0x01,
  UIDGID: 0x02,
  PERMISSIONS: 0x04,
  ACMODTIME: 0x08,
  EXTENDED: 0x80000000,
} as const;

/** The file type bits of `permissions`, as POSIX st_mode carries them (OpenSSH sends them). */
const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/**
 * The largest frame accepted from a server. OpenSSH never sends more than 256 KiB
 * (SFTP_MAX_MSG_LENGTH) and this client never asks for more than 255 KiB of data per READ; a
 * length beyond this is a broken or hostile server, refused before any byte is buffered for it.
 */
export const MAX_FRAME = 4 * 1024 * 1024;

/** What this client sends in INIT and needs back in VERSION. */
export const SFTP_VERSION = 3;

/** The attributes of a file, as far as the server reported them. */
export interface Attrs {
  readonly size?: number;
  /** st_mode: type bits and permission bits. */
  readonly permissions?: number;
  /** Last modification, seconds since the epoch (SFTP v3 carries it as a u32). */
  readonly mtime?: number;
}

export function isDirectory(attrs: Attrs): boolean {
  return (
    attrs.permissions !== undefined && (attrs.permissions & S_IFMT) === S_IFDIR
  );
}

export function isRegularFile(attrs: Attrs): boolean {
  return (
    attrs.permissions !== undefined && (attrs.permissions & S_IFMT) === S_IFREG
  );
}

export function isSymlink(attrs: Attrs): boolean {
  return (
    attrs.permissions !== undefined && (attrs.permissions & S_IFMT) === S_IFLNK
  );
}

/** One field of a request: a uint32, a uint64, a string (UTF-8) or raw bytes as a string. */
export type Field =
  | { readonly u32: number }
  | { readonly u64: number }
  | string
  | Uint8Array
  | { readonly attrs: { readonly permissions?: number } };

const textEncoder = new TextEncoder();

/**
 * One whole packet: length, type, `id` (omitted for INIT) and the fields, in one allocation.
 * With `trailingLength` (of a WRITE's data), the packet returned ends with that length, as a
 * string's, and the caller sends the data itself right after it: the data is never copied.
 */
export function encodePacket(
  type: number,
  id: number | undefined,
  fields: readonly Field[],
  trailingLength?: number,
): Uint8Array {
  const encoded = fields.map((field) =>
    typeof field === "string" ? textEncoder.encode(field) : field,
  );
  let length = 1 + (id === undefined ? 0 : 4);
  for (const field of encoded) length += fieldSize(field);
  const packet = new Uint8Array(
    4 + length + (trailingLength === undefined ? 0 : 4),
  );
  if (trailingLength !== undefined) length += 4 + trailingLength;
  const view = new DataView(packet.buffer);
  view.setUint32(0, length);
  packet[4] = type;
  let at = 5;
  if (id !== undefined) {
    view.setUint32(at, id);
    at += 4;
  }
  for (const field of encoded) {
    if (field instanceof Uint8Array) {
      view.setUint32(at, field.length);
      packet.set(field, at + 4);
      at += 4 + field.length;
    } else if ("u32" in field) {
      view.setUint32(at, field.u32);
      at += 4;
    } else if ("u64" in field) {
      view.setBigUint64(at, BigInt(field.u64));
      at += 8;
    } else if (field.attrs.permissions === undefined) {
      view.setUint32(at, 0);
      at += 4;
    } else {
      view.setUint32(at, AttrFlag.PERMISSIONS);
      view.setUint32(at + 4, field.attrs.permissions);
      at += 8;
    }
  }
  if (trailingLength !== undefined) view.setUint32(at, trailingLength);
  return packet;
}

function fieldSize(field: Exclude<Field, string>): number {
  if (field instanceof Uint8Array) return 4 + field.length;
  if ("u32" in field) return 4;
  if ("u64" in field) return 8;
  return field.attrs.permissions === undefined ? 4 : 8;
}

/** A reply the server sent that breaks the protocol (truncated, impossible values). */
export class MalformedPacket extends Error {
  override readonly name = "MalformedPacket";
}

/** Reads the fields of one packet's payload in order; throws MalformedPacket past its end. */
export class PacketReader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.at;
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }

  /** The next uint32, without moving past it. */
  peekU32(): number {
    this.need(4);
    return this.view.getUint32(this.at);
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }

  u64(): number {
    this.need(8);
    const value = this.view.getBigUint64(this.at);
    this.at += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new MalformedPacket(`a 64-bit value ${value} too large to use`);
    return Number(value);
  }

  /** A string's bytes, as a view into the packet (no copy). */
  bytesField(): Uint8Array {
    const length = this.u32();
    this.need(length);
    const field = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return field;
  }

  text(): string {
    return new TextDecoder().decode(this.bytesField());
  }

  attrs(): Attrs {
    const flags = this.u32();
    let size: number | undefined;
    let permissions: number | undefined;
    let mtime: number | undefined;
    if (flags & AttrFlag.SIZE) size = this.u64();
    if (flags & AttrFlag.UIDGID) {
      this.u32();
      this.u32();
    }
    if (flags & AttrFlag.PERMISSIONS) permissions = this.u32();
    if (flags & AttrFlag.ACMODTIME) {
      this.u32();
      mtime = this.u32();
    }
    if (flags & AttrFlag.EXTENDED) {
      const count = this.u32();
      for (let i = 0; i < count; i++) {
        this.bytesField();
        this.bytesField();
      }
    }
    return {
      ...(size === undefined ? {} : { size }),
      ...(permissions === undefined ? {} : { permissions }),
      ...(mtime === undefined ? {} : { mtime }),
    };
  }

  private need(count: number): void {
    if (count > this.remaining)
      throw new MalformedPacket(
        `a packet ends ${count - this.remaining} bytes early`,
      );
  }
}

/**
 * Where the data of a DATA reply goes as its bytes arrive, instead of into a frame of its own
 * (the client's ranged reads: straight into the range's buffer, one copy of every byte fewer).
 */
export interface DataPlacement {
  /** The buffer for the `length` data bytes of a DATA reply to request `id`, or undefined. */
  into(id: number, length: number): Uint8Array | undefined;
  /** The reply to `id` is whole: its `length` bytes are at the start of what into() gave. */
  placed(id: number, length: number): void;
}

/** A DATA frame's bytes before its data: length, type, id and the data's length. */
const DATA_HEADER = 13;

/**
 * Cuts a byte stream into packets (type byte and payload, without the length). A declared
 * length of 0 or above MAX_FRAME throws MalformedPacket before anything is buffered for it;
 * a packet is copied once, when its last byte arrives (or not at all when one chunk holds it).
 * With a DataPlacement, a DATA reply that spans chunks (a READ of 255 KiB spans four of a
 * pipe's 64 KiB) has its data copied where the placement says, as the chunks arrive.
 */
export class FrameSplitter {
  private readonly chunks: Uint8Array[] = [];
  private buffered = 0;
  private placing:
    | { readonly id: number; readonly into: Uint8Array; filled: number }
    | undefined;

  constructor(private readonly placement?: DataPlacement) {}

  /** The frames completed by `chunk`, in order (placed replies are told to the placement). */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.placing !== undefined) {
        if (!this.place()) return frames;
        continue;
      }
      if (this.buffered < 4) return frames;
      const length = new DataView(this.peek(4).buffer).getUint32(0);
      if (length === 0 || length > MAX_FRAME)
        throw new MalformedPacket(
          `the server announced a packet of ${length} bytes (at most ${MAX_FRAME} accepted)`,
        );
      if (this.buffered < 4 + length) {
        if (this.startPlacing(length)) continue;
        return frames;
      }
      this.take(4);
      frames.push(this.take(length));
    }
  }

  /** Bytes received but not yet part of a whole frame (a truncated stream ends with some). */
  get pending(): number {
    const placed =
      this.placing === undefined ? 0 : DATA_HEADER + this.placing.filled;
    return this.buffered + placed;
  }

  /**
   * Whether the frame of `length` bytes begun in the buffer is a DATA reply (nothing after its
   * data) whose data the placement takes; if so, its header is consumed and placing begins.
   */
  private startPlacing(length: number): boolean {
    if (this.placement === undefined || this.buffered < DATA_HEADER)
      return false;
    const header = new DataView(this.peek(DATA_HEADER).buffer);
    const dataLength = header.getUint32(9);
    if (header.getUint8(4) !== Packet.DATA || 9 + dataLength !== length)
      return false;
    const id = header.getUint32(5);
    const into = this.placement.into(id, dataLength);
    if (into === undefined || into.length < dataLength) return false;
    this.take(DATA_HEADER);
    this.placing = { id, into: into.subarray(0, dataLength), filled: 0 };
    return true;
  }

  /** Copies buffered bytes into the reply being placed; true once it is whole. */
  private place(): boolean {
    const placing = this.placing;
    if (placing === undefined) return true;
    while (placing.filled < placing.into.length) {
      const chunk = this.chunks[0];
      if (chunk === undefined) return false;
      const part = chunk.subarray(0, placing.into.length - placing.filled);
      placing.into.set(part, placing.filled);
      placing.filled += part.length;
      this.buffered -= part.length;
      if (part.length === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part.length);
    }
    this.placing = undefined;
    this.placement?.placed(placing.id, placing.into.length);
    return true;
  }

  /** A copy of the first `count` buffered bytes. */
  private peek(count: number): Uint8Array {
    const out = new Uint8Array(count);
    let filled = 0;
    for (const chunk of this.chunks) {
      const part = chunk.subarray(0, count - filled);
      out.set(part, filled);
      filled += part.length;
      if (filled === count) break;
    }
    return out;
  }

  /** Removes and returns the first `count` buffered bytes. */
  private take(count: number): Uint8Array {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= count) {
      const taken = first.subarray(0, count);
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      this.buffered -= count;
      return taken;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new Error("FrameSplitter: short buffer");
      const part = chunk.subarray(0, count - filled);
      out.set(part, filled);
      filled += part.length;
      if (part.length === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part.length);
    }
    this.buffered -= count;
    return out;
  }
}
