/**
 * A streaming POSIX tar writer (pax interchange format: ustar headers, with a pax extended
 * header before an entry whose path, link target, size, owner or nanosecond mtime does not
 * fit ustar's fields), for `dump` of a directory. Written here rather than taken as a
 * dependency: writing is a few dozen lines of the format, and `dump` needs only this.
 *
 * Names are bytes, as Linux file names are: a pax path that is not UTF-8 is marked
 * `hdrcharset=BINARY`, so GNU tar and bsdtar take it byte for byte.
 */

const BLOCK = 512;
/** Small pieces (headers, padding) are gathered up to this before one write. */
const GATHER = 64 * 1024;

export type TarEntryType = "file" | "hardlink" | "symlink" | "dir" | "fifo";

export interface TarEntry {
  /** Relative path, components joined by '/'; a directory's without the trailing '/'. */
  readonly path: Uint8Array;
  readonly type: TarEntryType;
  /** Permission bits (and setuid, setgid, sticky). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Nanoseconds since the Unix epoch. */
  readonly mtimeNs: bigint;
  /** Content length of a file; 0 for the other types. */
  readonly size: number;
  /** The target of a symlink, or the earlier path of a hardlink. */
  readonly link?: Uint8Array;
}

const TYPE_FLAGS: Readonly<Record<TarEntryType, string>> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  dir: "5",
  fifo: "6",
};

/** The largest value an octal field of `width` bytes holds (width - 1 digits and a NUL). */
function octalLimit(width: number): number {
  return 8 ** (width - 1) - 1;
}

function isUtf8(bytes: Uint8Array): boolean {
  return Buffer.from(Buffer.from(bytes).toString("utf8"), "utf8").equals(bytes);
}

/** One pax record, `LEN key=value\n`, where LEN counts the whole record itself. */
function paxRecord(key: string, value: Uint8Array): Buffer {
  const body = Buffer.concat([
    Buffer.from(` ${key}=`),
    value,
    Buffer.from("\n"),
  ]);
  let length = body.length + 1;
  while (String(length).length + body.length > length) length++;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/** The pax mtime: seconds with the nanoseconds as a decimal fraction (may be negative). */
function paxTime(mtimeNs: bigint): string {
  const negative = mtimeNs < 0n;
  const magnitude = negative ? -mtimeNs : mtimeNs;
  const seconds = magnitude / 1_000_000_000n;
  const fraction = (magnitude % 1_000_000_000n)
    .toString()
    .padStart(9, "0")
    .replace(/0+$/, "");
  return `${negative ? "-" : ""}${seconds}${fraction === "" ? "" : `.${fraction}`}`;
}

export class TarWriter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Content bytes the current file entry still expects. */
  private remaining = 0;
  private padding = 0;
  private readonly sink: (chunk: Uint8Array) => Promise<void>;

  /** `sink` takes each chunk once; it may keep it. */
  constructor(sink: (chunk: Uint8Array) => Promise<void>) {
    this.sink = sink;
  }

  /** Starts an entry; a file's content follows through content(), its whole size. */
  async add(entry: TarEntry): Promise<void> {
    if (this.remaining !== 0)
      throw new RangeError("The previous tar entry is missing content");
    this.gather(entryHeaders(entry));
    const size = entry.type === "file" ? entry.size : 0;
    this.remaining = size;
    this.padding = paddingOf(size);
    if (size === 0) await this.flushIfFull();
  }

  /** Part of the current file's content, in order. */
  async content(chunk: Uint8Array): Promise<void> {
    if (chunk.length > this.remaining)
      throw new RangeError("More content than the tar entry's size");
    this.remaining -= chunk.length;
    if (chunk.length < GATHER) {
      this.gather(chunk);
    } else {
      await this.flush();
      await this.sink(chunk);
    }
    if (this.remaining === 0) {
      this.gather(Buffer.alloc(this.padding));
      this.padding = 0;
      await this.flushIfFull();
    }
  }

  /** Content bytes the current entry still expects (0 once it is complete). */
  get missing(): number {
    return this.remaining;
  }

  /** Ends the archive (two zero blocks) and writes out what is gathered. */
  async finish(): Promise<void> {
    if (this.remaining !== 0)
      throw new RangeError("The last tar entry is missing content");
    this.gather(Buffer.alloc(2 * BLOCK));
    await this.flush();
  }

  private gather(...pieces: Uint8Array[]): void {
    for (const piece of pieces) {
      if (piece.length === 0) continue;
      this.pending.push(piece);
      this.pendingBytes += piece.length;
    }
  }

  private async flushIfFull(): Promise<void> {
    if (this.pendingBytes >= GATHER) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const chunk = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.sink(chunk);
  }
}

/**
 * The header blocks of one entry: a pax extended header first when ustar's fields cannot hold
 * the path, the link, the size, the owner or the exact mtime; then the ustar header (with
 * those fields cut or clamped: readers take the pax values).
 */
export function entryHeaders(entry: TarEntry): Buffer {
  const path =
    entry.type === "dir"
      ? Buffer.concat([entry.path, Buffer.from("/")])
      : Buffer.from(entry.path);
  const link = Buffer.from(entry.link ?? new Uint8Array());
  const size = entry.type === "file" ? entry.size : 0;
  const seconds = Number(entry.mtimeNs / 1_000_000_000n);
  const wholeSeconds = entry.mtimeNs % 1_000_000_000n === 0n;
  const records: Buffer[] = [];
  if (path.length > 100) records.push(paxRecord("path", path));
  if (link.length > 100) records.push(paxRecord("linkpath", link));
  if (size > octalLimit(12))
    records.push(paxRecord("size", Buffer.from(String(size))));
  if (entry.uid > octalLimit(8) || entry.uid < 0)
    records.push(paxRecord("uid", Buffer.from(String(entry.uid))));
  if (entry.gid > octalLimit(8) || entry.gid < 0)
    records.push(paxRecord("gid", Buffer.from(String(entry.gid))));
  if (!wholeSeconds || seconds < 0 || seconds > octalLimit(12))
    records.push(paxRecord("mtime", Buffer.from(paxTime(entry.mtimeNs))));
  const blocks: Buffer[] = [];
  if (records.length > 0) {
    // Only a path or link carried in a record needs it (GNU tar warns about the keyword).
    if (
      (path.length > 100 && !isUtf8(path)) ||
      (link.length > 100 && !isUtf8(link))
    )
      records.unshift(paxRecord("hdrcharset", Buffer.from("BINARY")));
    const body = Buffer.concat(records);
    blocks.push(
      header({
        path: Buffer.concat([Buffer.from("PaxHeaders/"), lastComponent(path)]),
        flag: "x",
        mode: 0o644,
        uid: 0,
        gid: 0,
        seconds: 0,
        size: body.length,
        link: Buffer.alloc(0),
      }),
      body,
      padTo(body.length),
    );
  }
  blocks.push(
    header({
      path,
      flag: TYPE_FLAGS[entry.type],
      mode: entry.mode & 0o7777,
      uid: clamp(entry.uid, octalLimit(8)),
      gid: clamp(entry.gid, octalLimit(8)),
      seconds: clamp(seconds, octalLimit(12)),
      size: clamp(size, octalLimit(12)),
      link,
    }),
  );
  return Buffer.concat(blocks);
}

/** Zero bytes that fill `length` up to a whole block. */
function paddingOf(length: number): number {
  const rest = length % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

function padTo(length: number): Buffer {
  return Buffer.alloc(paddingOf(length));
}

function clamp(value: number, limit: number): number {
  return Math.min(Math.max(value, 0), limit);
}

function lastComponent(path: Buffer): Buffer {
  const trimmed =
    path.at(-1) === 0x2f ? path.subarray(0, path.length - 1) : path;
  return trimmed.subarray(trimmed.lastIndexOf(0x2f) + 1);
}

interface HeaderFields {
  readonly path: Buffer;
  readonly flag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly seconds: number;
  readonly size: number;
  readonly link: Buffer;
}

/** One ustar header block; over-long path and link are cut (a pax record carries them). */
function header(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  fields.path.copy(block, 0, 0, Math.min(fields.path.length, 100));
  const octal = (value: number, offset: number, width: number): void => {
    block.write(
      `${value.toString(8).padStart(width - 1, "0")}\0`,
      offset,
      "ascii",
    );
  };
  octal(fields.mode, 100, 8);
  octal(fields.uid, 108, 8);
  octal(fields.gid, 116, 8);
  octal(fields.size, 124, 12);
  octal(fields.seconds, 136, 12);
  block.write(fields.flag, 156, "ascii");
  fields.link.copy(block, 157, 0, Math.min(fields.link.length, 100));
  block.write("ustar\x0000", 257, "ascii");
  // The checksum is computed with its own field read as eight spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return block;
}
