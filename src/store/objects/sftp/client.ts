/**
 * A small SFTP version 3 client over any pair of streams (the stdin/stdout of `ssh -s HOST
 * sftp`, or of a local sftp-server in tests). Requests are pipelined: each gets an id, many
 * are in flight, replies are matched by id. Written from draft-ietf-secsh-filexfer-02 plus
 * OpenSSH's posix-rename@openssh.com and fsync@openssh.com; docs/dependencies.md says why no
 * library (none speaks SFTP over a plain stream and is kept).
 *
 * Errors: a status from the server becomes an SftpStatusError (a BlindsyncError whose kind
 * follows the code and whose message names the path); a malformed reply ends the session with
 * BlindsyncError('protocol'); a lost connection fails every request with 'transient'.
 *
 * Over 400 lines: one short method per SFTP request, beside the one request table they share;
 * the wire format is in codec.ts and the bulk transfers in transfers.ts.
 */

import type { Readable, Writable } from "node:stream";
import { BlindsyncError, type ErrorKind } from "../../../errors.js";
import {
  encodePacket,
  FrameSplitter,
  MalformedPacket,
  Packet,
  PacketReader,
  SFTP_VERSION,
  Status,
  type Attrs,
  type Field,
} from "./codec.js";

export interface SftpTransport {
  readonly readable: Readable;
  readonly writable: Writable;
}

export interface SftpClientOptions {
  /** Where the server is, for messages ("sftp:me@host:vault"). */
  readonly where: string;
  /** Why the connection ended, when known (ssh's exit status and last stderr line). */
  readonly describeLoss?: () => string | undefined;
}

/** One name a READDIR returned. */
export interface DirEntry {
  readonly name: string;
  readonly attrs: Attrs;
}

/** A status other than OK from the server, with the SSH_FX_* code kept for callers. */
export class SftpStatusError extends BlindsyncError {
  constructor(
    readonly status: number,
    kind: ErrorKind,
    message: string,
  ) {
    super(kind, message);
  }
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(error: unknown): void;
  /** A READ's buffer for its data (DataPlacement), when the caller gave one. */
  readonly into?: Uint8Array;
}

/** One reply: its packet type and a reader over the rest of it (after the id). */
interface Reply {
  readonly type: number;
  readonly body: PacketReader;
  /** A DATA reply whose data went straight into its waiter's `into`: how many bytes. */
  readonly placed?: number;
}

const NO_BYTES = new PacketReader(new Uint8Array(0));

/** Data bytes per READ or WRITE for a server not known to take more (the draft's floor). */
export const SMALL_PIECE = 32 * 1024;
/** What any OpenSSH sftp-server takes (its limit is 256 KiB packets since long before 8.6). */
export const OPENSSH_PIECE = 64 * 1024;
/** The most asked for per request, whatever a server offers: replies stay well under MAX_FRAME. */
export const MAX_PIECE = 255 * 1024;

const STATUS_KINDS: Partial<Record<number, ErrorKind>> = {
  [Status.NO_SUCH_FILE]: "not-found",
  [Status.NO_CONNECTION]: "transient",
  [Status.CONNECTION_LOST]: "transient",
};

export class SftpClient {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private failure: BlindsyncError | undefined;
  private readonly splitter = new FrameSplitter({
    into: (id, length) => {
      const into = this.waiting.get(id)?.into;
      return into !== undefined && length <= into.length ? into : undefined;
    },
    placed: (id, length) => {
      const waiter = this.waiting.get(id);
      if (waiter === undefined) return; // into() found it: never happens
      this.waiting.delete(id);
      waiter.resolve({ type: Packet.DATA, body: NO_BYTES, placed: length });
    },
  });
  private versionWaiter: Waiter | undefined;
  /** Extension name -> data, from the server's VERSION packet. */
  private readonly extensions = new Map<string, string>();
  /** Data bytes per READ and per WRITE this server takes (see transferLimits). */
  private pieces = { read: SMALL_PIECE, write: SMALL_PIECE };
  /** Whether requests are being held until the end of this turn (see send). */
  private holding = false;

  private constructor(
    private readonly transport: SftpTransport,
    private readonly options: SftpClientOptions,
  ) {
    transport.readable.on("data", (chunk: Buffer) => {
      this.receive(chunk);
    });
    transport.readable.on("end", () => {
      this.lose("the server closed the connection");
    });
    transport.readable.on("close", () => {
      this.lose("the server closed the connection");
    });
    transport.readable.on("error", (error: Error) => {
      this.lose(error.message);
    });
    // EPIPE once the peer is gone is reported through the lost connection instead.
    transport.writable.on("error", () => undefined);
  }

  /** Opens a session: INIT, then the server's VERSION with its extensions. */
  static async start(
    transport: SftpTransport,
    options: SftpClientOptions,
  ): Promise<SftpClient> {
    const client = new SftpClient(transport, options);
    const version = await new Promise<Reply>((resolve, reject) => {
      client.versionWaiter = { resolve, reject };
      client.send(
        encodePacket(Packet.INIT, undefined, [{ u32: SFTP_VERSION }]),
      );
    });
    client.parse(version, (reply) => {
      const number = reply.body.u32();
      if (number !== SFTP_VERSION)
        throw new MalformedPacket(
          `the server speaks sftp version ${number}, not ${SFTP_VERSION}`,
        );
      while (reply.body.remaining > 0)
        client.extensions.set(reply.body.text(), reply.body.text());
    });
    client.pieces = await client.transferLimits();
    return client;
  }

  /** Data bytes to ask for in one READ: the server answers no more than this in one reply. */
  get readPiece(): number {
    return this.pieces.read;
  }

  /** Data bytes to send in one WRITE. */
  get writePiece(): number {
    return this.pieces.write;
  }

  /**
   * The piece sizes for this server. The draft promises only packets of 34,000 bytes, so 32 KiB
   * for an unknown server. OpenSSH (known by its extensions) takes 64 KiB at least; since 8.6
   * it tells its limits (limits@openssh.com: 255 KiB reads and writes), and pieces that large
   * take a quarter of the requests, replies and promises of 64 KiB ones for the same bytes.
   */
  private async transferLimits(): Promise<{ read: number; write: number }> {
    if (!this.hasExtension("posix-rename@openssh.com"))
      return { read: SMALL_PIECE, write: SMALL_PIECE };
    if (!this.hasExtension("limits@openssh.com"))
      return { read: OPENSSH_PIECE, write: OPENSSH_PIECE };
    const limits = await this.request(
      Packet.EXTENDED,
      "ask the server's limits",
      ["limits@openssh.com"],
      (reply) => {
        expectType(reply, Packet.EXTENDED_REPLY);
        const packet = reply.body.u64();
        return {
          packet,
          read: reply.body.u64(),
          write: reply.body.u64(),
        };
      },
    );
    // 0 means "no limit given"; a smaller limit than usual is obeyed.
    const within = (limit: number): number =>
      limit === 0 ? OPENSSH_PIECE : Math.max(1024, Math.min(limit, MAX_PIECE));
    // A WRITE's header (id, handle, offset, length) must fit in the packet beside its data.
    const write =
      limits.packet === 0
        ? within(limits.write)
        : Math.min(within(limits.write), limits.packet - 1024);
    return { read: within(limits.read), write: Math.max(1024, write) };
  }

  /** Whether the server offered `name` (e.g. "posix-rename@openssh.com") in VERSION. */
  hasExtension(name: string): boolean {
    return this.extensions.has(name);
  }

  open(path: string, flags: number, permissions?: number): Promise<Uint8Array> {
    return this.request(
      Packet.OPEN,
      `open "${path}"`,
      [
        path,
        { u32: flags },
        { attrs: permissions === undefined ? {} : { permissions } },
      ],
      handleOf,
    );
  }

  close(handle: Uint8Array, path: string): Promise<void> {
    return this.request(Packet.CLOSE, `close "${path}"`, [handle], expectOk);
  }

  /**
   * Up to `length` bytes at `offset`; fewer when the server sends fewer (the caller asks again
   * for the rest), undefined at end of file. With `into` (at least `length` bytes), a reply
   * that spans pipe chunks is copied there as it arrives and returned as a view of it; one that
   * one chunk holds is returned as a view of the chunk, for the caller to copy. Either way the
   * caller must not use `into` for anything else until this settles.
   */
  read(
    handle: Uint8Array,
    path: string,
    offset: number,
    length: number,
    into?: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    return this.request(
      Packet.READ,
      `read "${path}"`,
      [handle, { u64: offset }, { u32: length }],
      (reply) => {
        if (reply.placed !== undefined && into !== undefined) {
          if (reply.placed > length)
            throw new MalformedPacket(
              `${reply.placed} bytes for a read of ${length}`,
            );
          return into.subarray(0, reply.placed);
        }
        if (reply.type === Packet.STATUS) {
          expectEof(reply);
          return undefined;
        }
        expectType(reply, Packet.DATA);
        const data = reply.body.bytesField();
        if (data.length > length)
          throw new MalformedPacket(
            `${data.length} bytes for a read of ${length}`,
          );
        return data;
      },
      undefined,
      into,
    );
  }

  /** Writes `data` at `offset`: one buffer, or several sent back to back as one WRITE. */
  write(
    handle: Uint8Array,
    path: string,
    offset: number,
    data: Uint8Array | readonly Uint8Array[],
  ): Promise<void> {
    return this.request(
      Packet.WRITE,
      `write "${path}"`,
      [handle, { u64: offset }],
      expectOk,
      data instanceof Uint8Array ? [data] : data,
    );
  }

  stat(path: string): Promise<Attrs> {
    return this.request(Packet.STAT, `stat "${path}"`, [path], attrsOf);
  }

  lstat(path: string): Promise<Attrs> {
    return this.request(Packet.LSTAT, `stat "${path}"`, [path], attrsOf);
  }

  fstat(handle: Uint8Array, path: string): Promise<Attrs> {
    return this.request(Packet.FSTAT, `stat "${path}"`, [handle], attrsOf);
  }

  opendir(path: string): Promise<Uint8Array> {
    return this.request(
      Packet.OPENDIR,
      `open the folder "${path}"`,
      [path],
      handleOf,
    );
  }

  /** The next batch of names in the folder, or undefined once all were returned. */
  readdir(handle: Uint8Array, path: string): Promise<DirEntry[] | undefined> {
    return this.request(
      Packet.READDIR,
      `read the folder "${path}"`,
      [handle],
      (reply) => {
        if (reply.type === Packet.STATUS) {
          expectEof(reply);
          return undefined;
        }
        expectType(reply, Packet.NAME);
        const count = reply.body.u32();
        // A name takes at least 12 bytes: a count beyond that is a lie, not a reason to loop.
        if (count > reply.body.remaining / 12)
          throw new MalformedPacket(`a NAME packet claims ${count} names`);
        const entries: DirEntry[] = [];
        for (let i = 0; i < count; i++) {
          const name = reply.body.text();
          reply.body.bytesField(); // the long name, "ls -l" style, for humans
          entries.push({ name, attrs: reply.body.attrs() });
        }
        return entries;
      },
    );
  }

  remove(path: string): Promise<void> {
    return this.request(Packet.REMOVE, `remove "${path}"`, [path], expectOk);
  }

  mkdir(path: string, permissions: number): Promise<void> {
    return this.request(
      Packet.MKDIR,
      `create the folder "${path}"`,
      [path, { attrs: { permissions } }],
      expectOk,
    );
  }

  /** SSH_FXP_RENAME: fails when `to` exists (OpenSSH refuses to replace). */
  rename(from: string, to: string): Promise<void> {
    return this.request(
      Packet.RENAME,
      `rename "${from}" to "${to}"`,
      [from, to],
      expectOk,
    );
  }

  /** posix-rename@openssh.com: rename(2), replacing `to` atomically. */
  posixRename(from: string, to: string): Promise<void> {
    return this.request(
      Packet.EXTENDED,
      `rename "${from}" to "${to}"`,
      ["posix-rename@openssh.com", from, to],
      expectOk,
    );
  }

  /** fsync@openssh.com: fsync(2) of an open file. */
  fsync(handle: Uint8Array, path: string): Promise<void> {
    return this.request(
      Packet.EXTENDED,
      `sync "${path}"`,
      ["fsync@openssh.com", handle],
      expectOk,
    );
  }

  /**
   * Ends the session: the server sees the end of its input and exits. Requests still in
   * flight fail as a lost connection.
   */
  end(): void {
    // Not lose(): a close asked for is no failure to explain.
    this.abort(
      new BlindsyncError(
        "transient",
        `The sftp session with ${this.options.where} was closed`,
      ),
    );
    this.transport.writable.end();
  }

  /**
   * Sends one request; resolves with `parse` of the reply that carries its id. A STATUS other
   * than OK or EOF rejects with SftpStatusError; a reply `parse` cannot read ends the session.
   */
  private request<T>(
    type: number,
    what: string,
    fields: readonly Field[],
    parse: (reply: Reply) => T,
    trailing?: readonly Uint8Array[],
    into?: Uint8Array,
  ): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId;
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(
        id,
        into === undefined ? { resolve, reject } : { resolve, reject, into },
      );
      if (trailing === undefined) {
        this.send(encodePacket(type, id, fields));
        return;
      }
      const length = trailing.reduce((sum, part) => sum + part.length, 0);
      // A WRITE's data goes as it is, after its header: not copied into the packet. The caller
      // leaves it unchanged until the reply, which the server sends after reading it all.
      // The header and every part (a pack's small blobs: dozens per WRITE) go to the pipe in
      // one writev with the turn's other requests (send), not one system call each.
      this.send(encodePacket(type, id, fields, length));
      for (const part of trailing) if (part.length > 0) this.send(part);
    }).then((reply) =>
      this.parse(reply, (checked) => {
        this.checkStatus(checked, what);
        return parse(checked);
      }),
    );
  }

  /** Runs `parse`, turning a malformed reply into the end of the session. */
  private parse<T>(reply: Reply, parse: (reply: Reply) => T): T {
    try {
      return parse(reply);
    } catch (error) {
      if (error instanceof MalformedPacket) throw this.fail(error.message);
      throw error;
    }
  }

  /**
   * Requests sent in one turn of the event loop go to the pipe together, in one writev at the
   * end of the turn: a ranged get asks for its READs and FSTAT at once, and each write to ssh's
   * pipe was a system call and a wake-up of ssh, which then sent each request in a packet of
   * its own (docs/performance.md, "Restore over sftp, round two").
   */
  private send(packet: Uint8Array): void {
    const pipe = this.transport.writable;
    if (!this.holding) {
      this.holding = true;
      pipe.cork();
      process.nextTick(() => {
        this.holding = false;
        pipe.uncork();
      });
    }
    // Callers bound how much they have in flight, so the pipe's buffer stays bounded too.
    pipe.write(packet);
  }

  private receive(chunk: Uint8Array): void {
    if (this.failure !== undefined) return;
    try {
      for (const frame of this.splitter.push(chunk)) this.dispatch(frame);
    } catch (error) {
      this.fail(
        error instanceof MalformedPacket ? error.message : String(error),
      );
    }
  }

  private dispatch(frame: Uint8Array): void {
    const body = new PacketReader(frame);
    const type = body.u8();
    if (this.versionWaiter !== undefined) {
      const waiter = this.versionWaiter;
      this.versionWaiter = undefined;
      if (type !== Packet.VERSION)
        throw new MalformedPacket(
          `the server answered INIT with packet type ${type}`,
        );
      waiter.resolve({ type, body });
      return;
    }
    const id = body.u32();
    const waiter = this.waiting.get(id);
    if (waiter === undefined)
      throw new MalformedPacket(`a reply to request ${id}, which was not sent`);
    this.waiting.delete(id);
    waiter.resolve({ type, body });
  }

  /**
   * Throws SftpStatusError for a STATUS other than OK and EOF, naming what was asked; leaves
   * the reader at the start of the status so that expectOk can read it again.
   */
  private checkStatus(reply: Reply, what: string): void {
    if (reply.type !== Packet.STATUS) return;
    const code = reply.body.peekU32();
    if (code === Status.OK || code === Status.EOF) return;
    reply.body.u32();
    // Version 3 adds a message and a language tag; some old servers omit them.
    const message = reply.body.remaining > 0 ? reply.body.text() : "";
    const said = message === "" ? statusName(code) : message;
    throw new SftpStatusError(
      code,
      STATUS_KINDS[code] ?? "failed",
      `Cannot ${what} on ${this.options.where}: ${said}`,
    );
  }

  /** Ends the session for a protocol violation; returns the error for `throw`. */
  private fail(reason: string): BlindsyncError {
    const error = new BlindsyncError(
      "protocol",
      `The sftp server at ${this.options.where} broke the protocol: ${reason}`,
      { hint: "Check that the server runs a standard sftp server (OpenSSH's)" },
    );
    this.abort(error);
    this.transport.writable.end();
    return error;
  }

  private lose(reason: string): void {
    if (this.failure !== undefined) return;
    const why = this.options.describeLoss?.() ?? reason;
    this.abort(
      new BlindsyncError(
        "transient",
        `Lost the sftp connection to ${this.options.where}: ${why}`,
        { hint: "Try again; check the network and the server" },
      ),
    );
  }

  private abort(error: BlindsyncError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    if (this.versionWaiter !== undefined) waiters.push(this.versionWaiter);
    this.versionWaiter = undefined;
    for (const waiter of waiters) waiter.reject(error);
  }
}

/** An OK status; anything else (an EOF to a write, say) breaks the protocol. */
function expectOk(reply: Reply): void {
  expectType(reply, Packet.STATUS);
  if (reply.body.peekU32() !== Status.OK)
    throw new MalformedPacket(
      `status ${reply.body.peekU32()} where OK was expected`,
    );
}

/** The end of file that ends a READ or READDIR (an OK there breaks the protocol). */
function expectEof(reply: Reply): void {
  if (reply.body.peekU32() !== Status.EOF)
    throw new MalformedPacket(
      `status ${reply.body.peekU32()} where EOF or data was expected`,
    );
}

function expectType(reply: Reply, type: number): void {
  if (reply.type !== type)
    throw new MalformedPacket(
      `packet type ${reply.type} where ${type} was expected`,
    );
}

function handleOf(reply: Reply): Uint8Array {
  expectType(reply, Packet.HANDLE);
  // Copied: the reply's bytes are a view into the frame.
  return new Uint8Array(reply.body.bytesField());
}

function attrsOf(reply: Reply): Attrs {
  expectType(reply, Packet.ATTRS);
  return reply.body.attrs();
}

function statusName(code: number): string {
  const name = Object.entries(Status).find(([, value]) => value === code)?.[0];
  return name === undefined
    ? `status ${code}`
    : name.toLowerCase().replace(/_/g, " ");
}
