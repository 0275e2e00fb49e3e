/**
 * The SFTP client against a fake peer, for what a real sftp-server never does: a frame longer
 * than any server sends, a frame cut short, a reply to a request never sent, a NAME packet
 * claiming more names than it holds. Each must end the session with one clear error, without
 * allocating what the peer announced.
 */

import { PassThrough, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../../errors.js";
import { SftpClient } from "./client.js";
import { readRange, writeAll } from "./transfers.js";
import {
  encodePacket,
  FrameSplitter,
  MalformedPacket,
  MAX_FRAME,
  Packet,
  PacketReader,
} from "./codec.js";

/** A fake server: what the client writes, and a way to answer it with raw bytes. */
function fakePeer() {
  const toClient = new PassThrough();
  const fromClient = new PassThrough();
  const splitter = new FrameSplitter();
  const requests: { type: number; id: number; reader: PacketReader }[] = [];
  const waiting: (() => void)[] = [];
  fromClient.on("data", (chunk: Buffer) => {
    for (const frame of splitter.push(chunk)) {
      const reader = new PacketReader(frame);
      const type = reader.u8();
      requests.push({
        type,
        id: type === Packet.INIT ? 0 : reader.u32(),
        reader,
      });
      waiting.splice(0).forEach((wake) => {
        wake();
      });
    }
  });
  return {
    transport: { readable: toClient, writable: fromClient },
    send(bytes: Uint8Array) {
      toClient.write(bytes);
    },
    end() {
      toClient.end();
    },
    /** The next request the client sends (after those already taken). */
    async request(
      index: number,
    ): Promise<{ type: number; id: number; reader: PacketReader }> {
      while (requests.length <= index)
        await new Promise<void>((resolve) => waiting.push(resolve));
      return requests[index]!;
    },
  };
}

const VERSION_3 = encodePacket(Packet.VERSION, undefined, [{ u32: 3 }]);

async function started() {
  const peer = fakePeer();
  const starting = SftpClient.start(peer.transport, { where: "the fake" });
  expect((await peer.request(0)).type).toBe(Packet.INIT);
  peer.send(VERSION_3);
  return { peer, client: await starting };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection, got a result");
    },
    (caught: unknown) => caught,
  );
}

describe("FrameSplitter", () => {
  it("joins frames split at every byte and splits frames sent together", () => {
    const one = encodePacket(Packet.STATUS, 7, [{ u32: 0 }, "ok", ""]);
    const two = encodePacket(Packet.HANDLE, 8, [new Uint8Array([1, 2, 3])]);
    const stream = new Uint8Array([...one, ...two]);
    const splitter = new FrameSplitter();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++)
      frames.push(...splitter.push(stream.subarray(i, i + 1)));
    expect(frames.map((frame) => [...frame])).toEqual([
      [...one.subarray(4)],
      [...two.subarray(4)],
    ]);
    expect(splitter.pending).toBe(0);
    const together = new FrameSplitter().push(stream);
    expect(together).toHaveLength(2);
  });

  it("places a DATA reply that spans chunks where the placement says, byte by byte", () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
    const placedData = encodePacket(Packet.DATA, 5, [data]);
    const unknownId = encodePacket(Packet.DATA, 6, [data.subarray(0, 10)]);
    const status = encodePacket(Packet.STATUS, 7, [{ u32: 1 }, "", ""]);
    const stream = new Uint8Array([...placedData, ...unknownId, ...status]);
    const into = new Uint8Array(400);
    const placed: [number, number][] = [];
    const splitter = new FrameSplitter({
      into: (id) => (id === 5 ? into : undefined),
      placed: (id, length) => placed.push([id, length]),
    });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++)
      frames.push(...splitter.push(stream.subarray(i, i + 1)));
    expect(placed).toEqual([[5, 300]]);
    expect(into.subarray(0, 300)).toEqual(data);
    expect(into[300]).toBe(0);
    // Not placed: a reply to an id the placement does not take, and a STATUS.
    expect(frames.map((frame) => [...frame])).toEqual([
      [...unknownId.subarray(4)],
      [...status.subarray(4)],
    ]);
    expect(splitter.pending).toBe(0);
  });

  it("does not place a DATA reply that one chunk holds, nor one with bytes after its data", () => {
    const placed: number[] = [];
    const placement = {
      into: () => new Uint8Array(100),
      placed: (id: number) => placed.push(id),
    };
    const whole = encodePacket(Packet.DATA, 1, [new Uint8Array(20)]);
    expect(new FrameSplitter(placement).push(whole)).toHaveLength(1);
    // A DATA frame longer than its data field: a broken reply, left for the parser to refuse.
    const padded = encodePacket(Packet.DATA, 2, [new Uint8Array(20), "x"]);
    const splitter = new FrameSplitter(placement);
    expect(splitter.push(padded.subarray(0, 20))).toEqual([]);
    expect(splitter.push(padded.subarray(20))).toHaveLength(1);
    // Data longer than the buffer offered: a frame too, which read() refuses as too long.
    const long = encodePacket(Packet.DATA, 3, [new Uint8Array(150)]);
    const third = new FrameSplitter(placement);
    expect(third.push(long.subarray(0, 50))).toEqual([]);
    expect(third.push(long.subarray(50))).toHaveLength(1);
    expect(placed).toEqual([]);
  });

  it("refuses an announced length over MAX_FRAME before buffering it", () => {
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX_FRAME + 1);
    expect(() => new FrameSplitter().push(header)).toThrow(MalformedPacket);
    new DataView(header.buffer).setUint32(0, 0);
    expect(() => new FrameSplitter().push(header)).toThrow(MalformedPacket);
  });
});

describe("PacketReader", () => {
  it("refuses a string longer than the packet", () => {
    const packet = new Uint8Array([0, 0, 1, 0, 65, 66]);
    expect(() => new PacketReader(packet).bytesField()).toThrow(
      MalformedPacket,
    );
  });
});

describe("SftpClient against a broken peer", () => {
  it("an oversized frame ends the session as 'protocol'", async () => {
    const { peer, client } = await started();
    const asked = client.stat("/x");
    await peer.request(1);
    // 4 GiB - 1 announced: refused at the header, nothing allocated for it.
    peer.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, Packet.ATTRS]));
    const error = await rejection(asked);
    expect(isBlindsyncError(error, "protocol")).toBe(true);
    expect((error as Error).message).toContain("4294967295 bytes");
    expect(
      isBlindsyncError(await rejection(client.stat("/y")), "protocol"),
    ).toBe(true);
  });

  it("a frame cut short by the end of the stream fails as a lost connection", async () => {
    const { peer, client } = await started();
    const asked = client.stat("/x");
    const { id } = await peer.request(1);
    const reply = encodePacket(Packet.ATTRS, id, [{ u32: 0 }]);
    peer.send(reply.subarray(0, reply.length - 2));
    peer.end();
    const error = await rejection(asked);
    expect(isBlindsyncError(error, "transient")).toBe(true);
    expect((error as Error).message).toContain("Lost the sftp connection");
  });

  it("a reply whose fields run past its frame is 'protocol'", async () => {
    const { peer, client } = await started();
    const asked = client.open("/x", 1);
    const { id } = await peer.request(1);
    // A HANDLE whose string claims 200 bytes in a 12-byte packet.
    const reply = encodePacket(Packet.HANDLE, id, [{ u32: 200 }]);
    peer.send(reply);
    expect(isBlindsyncError(await rejection(asked), "protocol")).toBe(true);
  });

  it("a reply to a request never sent ends the session as 'protocol'", async () => {
    const { peer, client } = await started();
    const asked = client.stat("/x");
    const { id } = await peer.request(1);
    peer.send(encodePacket(Packet.ATTRS, id + 1000, [{ u32: 0 }]));
    const error = await rejection(asked);
    expect(isBlindsyncError(error, "protocol")).toBe(true);
    expect((error as Error).message).toContain("was not sent");
  });

  it("a NAME packet claiming more names than it holds is 'protocol'", async () => {
    const { peer, client } = await started();
    const asked = client.readdir(new Uint8Array([1]), "/d");
    const { id } = await peer.request(1);
    peer.send(encodePacket(Packet.NAME, id, [{ u32: 0x7fffffff }]));
    expect(isBlindsyncError(await rejection(asked), "protocol")).toBe(true);
  });

  it("sends a WRITE's header and parts to the pipe in one writev", async () => {
    const peer = fakePeer();
    /** Chunks per call the pipe was handed: [4] is one writev of header and three parts. */
    const calls: number[] = [];
    const pipe = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        calls.push(1);
        peer.transport.writable.write(chunk);
        callback();
      },
      writev(chunks, callback) {
        calls.push(chunks.length);
        for (const { chunk } of chunks)
          peer.transport.writable.write(chunk as Buffer);
        callback();
      },
    });
    const starting = SftpClient.start(
      { readable: peer.transport.readable, writable: pipe },
      { where: "the fake" },
    );
    await peer.request(0);
    peer.send(VERSION_3);
    const client = await starting;
    calls.length = 0;
    const parts = [10, 20, 30].map((length) => new Uint8Array(length));
    const writing = client.write(new Uint8Array([9]), "/f", 0, parts);
    const { id, reader } = await peer.request(1);
    reader.bytesField(); // handle
    reader.u64(); // offset
    expect(reader.bytesField()).toHaveLength(60);
    peer.send(encodePacket(Packet.STATUS, id, [{ u32: 0 }, "", ""]));
    await writing;
    expect(calls).toEqual([4]);
  });

  it("sends the requests of one turn of the event loop in one writev", async () => {
    const peer = fakePeer();
    const calls: number[] = [];
    const pipe = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        calls.push(1);
        peer.transport.writable.write(chunk);
        callback();
      },
      writev(chunks, callback) {
        calls.push(chunks.length);
        for (const { chunk } of chunks)
          peer.transport.writable.write(chunk as Buffer);
        callback();
      },
    });
    const starting = SftpClient.start(
      { readable: peer.transport.readable, writable: pipe },
      { where: "the fake" },
    );
    await peer.request(0);
    peer.send(VERSION_3);
    const client = await starting;
    calls.length = 0;
    const handle = new Uint8Array([9]);
    const reads = [0, 1, 2].map((index) =>
      client.read(handle, "/f", index * 10, 10),
    );
    const statting = client.fstat(handle, "/f");
    for (let index = 1; index <= 4; index++) {
      const { type, id } = await peer.request(index);
      peer.send(
        type === Packet.READ
          ? encodePacket(Packet.DATA, id, [new Uint8Array(10)])
          : encodePacket(Packet.ATTRS, id, [{ u32: 0 }]),
      );
    }
    await Promise.all([...reads, statting]);
    // Three READs and an FSTAT asked in one turn: one system call, not four.
    expect(calls).toEqual([4]);
  });

  it("writes in 32 KiB pieces to a server that is not known to be OpenSSH", async () => {
    const { peer, client } = await started();
    const writing = writeAll(
      client,
      new Uint8Array([9]),
      "/f",
      new Uint8Array(100_000),
    );
    const sizes: number[] = [];
    for (let i = 1; sizes.reduce((a, b) => a + b, 0) < 100_000; i++) {
      const { type, id, reader } = await peer.request(i);
      expect(type).toBe(Packet.WRITE);
      reader.bytesField(); // handle
      reader.u64(); // offset
      sizes.push(reader.bytesField().length);
      peer.send(encodePacket(Packet.STATUS, id, [{ u32: 0 }, "", ""]));
    }
    await writing;
    expect(sizes).toEqual([32768, 32768, 32768, 1696]);
  });

  it("a range of several READs gets replies that span chunks placed straight in it", async () => {
    const { peer, client } = await started();
    // 32 KiB pieces (a server not known to be OpenSSH): three READs, the last one short.
    const reading = readRange(client, new Uint8Array([9]), "/f", 0, 80_000);
    const sizes = [32768, 32768, 14464];
    for (let index = 1; index <= sizes.length; index++) {
      const { id, reader } = await peer.request(index);
      reader.bytesField(); // handle
      const offset = reader.u64();
      const data = Uint8Array.from(
        { length: reader.u32() },
        (_, i) => (offset + i) % 253,
      );
      const reply = encodePacket(Packet.DATA, id, [data]);
      // In pieces of 1000 bytes, as a pipe hands over what ssh wrote so far.
      for (let at = 0; at < reply.length; at += 1000)
        peer.send(reply.subarray(at, at + 1000));
    }
    const bytes = await reading;
    expect(bytes.length).toBe(80_000);
    expect(bytes.every((byte, i) => byte === i % 253)).toBe(true);
  });

  it("a placed reply longer than its READ asked is 'protocol'", async () => {
    const { peer, client } = await started();
    const into = new Uint8Array(2000);
    const reading = client.read(new Uint8Array([9]), "/f", 0, 1000, into);
    const { id } = await peer.request(1);
    const reply = encodePacket(Packet.DATA, id, [new Uint8Array(1500)]);
    peer.send(reply.subarray(0, 100));
    peer.send(reply.subarray(100));
    const failed = await rejection(reading);
    expect(isBlindsyncError(failed, "protocol")).toBe(true);
  });

  it("a range one READ covers, answered short, is asked on from where the reply stopped", async () => {
    const { peer, client } = await started();
    const reading = readRange(client, new Uint8Array([9]), "/f", 5000, 1000);
    const first = await peer.request(1);
    first.reader.bytesField(); // handle
    expect([first.reader.u64(), first.reader.u32()]).toEqual([5000, 1000]);
    peer.send(
      encodePacket(Packet.DATA, first.id, [new Uint8Array(400).fill(1)]),
    );
    const second = await peer.request(2);
    second.reader.bytesField();
    expect([second.reader.u64(), second.reader.u32()]).toEqual([5400, 600]);
    peer.send(
      encodePacket(Packet.DATA, second.id, [new Uint8Array(600).fill(2)]),
    );
    const bytes = await reading;
    expect(bytes.length).toBe(1000);
    expect([bytes[399], bytes[400], bytes[999]]).toEqual([1, 2, 2]);
  });

  it("obeys the read and write limits a server gives through limits@openssh.com", async () => {
    const peer = fakePeer();
    const starting = SftpClient.start(peer.transport, { where: "the fake" });
    await peer.request(0);
    peer.send(
      encodePacket(Packet.VERSION, undefined, [
        { u32: 3 },
        "posix-rename@openssh.com",
        "1",
        "limits@openssh.com",
        "1",
      ]),
    );
    const { type, id, reader } = await peer.request(1);
    expect(type).toBe(Packet.EXTENDED);
    expect(reader.text()).toBe("limits@openssh.com");
    // packet, read, write, open handles
    peer.send(
      encodePacket(Packet.EXTENDED_REPLY, id, [
        { u64: 40_000 },
        { u64: 20_000 },
        { u64: 50_000 },
        { u64: 0 },
      ]),
    );
    const client = await starting;
    expect(client.readPiece).toBe(20_000);
    // The write limit is cut to fit a WRITE's header in the 40,000-byte packet.
    expect(client.writePiece).toBe(40_000 - 1024);
  });

  it("a server of another version is refused at the start", async () => {
    const peer = fakePeer();
    const starting = SftpClient.start(peer.transport, { where: "the fake" });
    await peer.request(0);
    peer.send(encodePacket(Packet.VERSION, undefined, [{ u32: 6 }]));
    const error = await rejection(starting);
    expect(isBlindsyncError(error, "protocol")).toBe(true);
    expect((error as Error).message).toContain("version 6");
  });
});
