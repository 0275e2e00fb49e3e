import { PassThrough, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { storeConformanceSuite } from "../../../test/store-suite.js";
import { BlindsyncError, isBlindsyncError } from "../../errors.js";
import {
  FrameDecoder,
  PROTOCOL_VERSION,
  decodeMessage,
  decodeServerMessage,
  encodeFrame,
  encodeMessage,
  type Message,
  type OpenMode,
} from "../../protocol/index.js";
import { MemoryStore } from "../memory/memory-store.js";
import type { Store } from "../store.js";
import { RemoteStore } from "./client.js";
import { serveConnection } from "./server.js";

interface Pair {
  readonly store: RemoteStore;
  readonly served: Promise<void>;
  readonly logs: string[];
  readonly toServer: PassThrough;
  readonly toClient: PassThrough;
}

async function connectPair(
  backing: Store,
  options: { mode?: OpenMode; maxInFlightRequests?: number } = {},
): Promise<Pair> {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const logs: string[] = [];
  const served = serveConnection({
    input: toServer,
    output: toClient,
    openStore: () => Promise.resolve(backing),
    log: (line) => logs.push(line),
  });
  const store = await RemoteStore.connect(
    { readable: toClient, writable: toServer },
    {
      path: "repo",
      mode: options.mode ?? "create",
      ...(options.maxInFlightRequests === undefined
        ? {}
        : { maxInFlightRequests: options.maxInFlightRequests }),
    },
  );
  return { store, served, logs, toServer, toClient };
}

/** The frame of a server's hello speaking `version`, as a fake server sends it. */
function serverHello(version: number): Uint8Array {
  return encodeFrame(
    encodeMessage({
      type: "server-hello",
      version,
      capabilities: [],
      appendOnly: false,
    }),
  );
}

/** A pipe pair whose far end answers the client's first bytes with a hello, then says nothing. */
function helloOnlyServer(version: number): {
  toServer: PassThrough;
  toClient: PassThrough;
} {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  toServer.once("data", () => {
    toClient.write(serverHello(version));
  });
  return { toServer, toClient };
}

storeConformanceSuite(
  "RemoteStore over an in-memory pipe",
  async ({ appendOnly }) => {
    const { store, served } = await connectPair(
      new MemoryStore({ appendOnly }),
    );
    return {
      store,
      cleanup: async () => {
        await store.close();
        await served;
      },
    };
  },
);

function id(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte);
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("RemoteStore", () => {
  it("pipelines concurrent calls without waiting a round trip each", async () => {
    const backing = new MemoryStore();
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    // Count how many requests the client had sent before the first response went back.
    let requestsBeforeFirstResponse = 0;
    let responded = false;
    const decoder = new FrameDecoder();
    toServer.on("data", (chunk: Buffer) => {
      for (const payload of decoder.push(chunk))
        if (!responded && decodeMessage(payload).type === "get")
          requestsBeforeFirstResponse++;
    });
    const gate = new PassThrough();
    const served = serveConnection({
      input: gate,
      output: toClient,
      openStore: () => Promise.resolve(backing),
      log: () => undefined,
    });
    toServer.pipe(gate);
    toClient.once("data", () => {
      responded = true;
    });
    const store = await RemoteStore.connect(
      { readable: toClient, writable: toServer },
      { path: "r", mode: "create", maxInFlightRequests: 16 },
    );
    responded = false;
    await store.put([{ id: id(1), kind: "data", bytes: new Uint8Array([7]) }]);
    responded = false;
    toClient.once("data", () => {
      responded = true;
    });
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => store.get(id(1))),
    );
    expect(answers).toHaveLength(40);
    // The window (16) was filled before the first answer came back.
    expect(requestsBeforeFirstResponse).toBeGreaterThanOrEqual(16);
    await store.close();
    await served;
  });

  it("serve answers a burst of gets in one write, and a later put's answer in its own", async () => {
    const backing = new MemoryStore();
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    // The server's output counts its writes: each is a system call, and over ssh a packet.
    let writes = 0;
    const output = new Writable({
      writev(chunks, callback) {
        writes++;
        for (const { chunk } of chunks) toClient.write(chunk);
        callback();
      },
      write(chunk: Buffer, _encoding, callback) {
        writes++;
        toClient.write(chunk);
        callback();
      },
    });
    const served = serveConnection({
      input: toServer,
      output,
      openStore: () => Promise.resolve(backing),
      log: () => undefined,
    });
    const store = await RemoteStore.connect(
      { readable: toClient, writable: toServer },
      { path: "r", mode: "create" },
    );
    const blobs = Array.from({ length: 40 }, (_, index) => ({
      id: id(index + 1),
      kind: "data" as const,
      bytes: new Uint8Array(300).fill(index),
    }));
    await store.put(blobs);
    writes = 0;
    const answers = await Promise.all(blobs.map((blob) => store.get(blob.id)));
    expect(answers.map((bytes) => bytes[0])).toEqual(
      blobs.map((_, index) => index),
    );
    // The client sends the 40 gets in one write, so they arrive together: one answer write.
    expect(writes).toBe(1);
    writes = 0;
    await store.put([{ id: id(99), kind: "data", bytes: new Uint8Array([1]) }]);
    expect(writes).toBe(1);
    await store.close();
    await served;
  });

  it("never has more requests in flight than its window", async () => {
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    const decoder = new FrameDecoder();
    let seen = 0;
    toServer.on("data", (chunk: Buffer) => {
      for (const payload of decoder.push(chunk)) {
        const message = decodeMessage(payload);
        if (message.type === "hello")
          toClient.write(serverHello(PROTOCOL_VERSION));
        else seen++;
      }
    });
    const store = await RemoteStore.connect(
      { readable: toClient, writable: toServer },
      { path: "r", mode: "open", maxInFlightRequests: 4 },
    );
    const calls = Array.from({ length: 10 }, () => store.get(id(2)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toBe(4);
    toClient.end();
    for (const call of calls)
      expect(isBlindsyncError(await caught(call), "transient")).toBe(true);
  });

  it("rethrows the server's error with the same kind and hint", async () => {
    const { store, served } = await connectPair(
      new MemoryStore({ appendOnly: true }),
    );
    const error = await caught(store.delete([id(3)]));
    expect(isBlindsyncError(error, "append-only")).toBe(true);
    expect((error as BlindsyncError).hint).toMatch(/append-only/);
    expect(store.appendOnly).toBe(true);
    await store.close();
    await served;
  });

  it("rejects every pending call with 'transient' naming the lost connection", async () => {
    const { toClient, toServer } = helloOnlyServer(PROTOCOL_VERSION);
    const store = await RemoteStore.connect(
      { readable: toClient, writable: toServer },
      { path: "r", mode: "open" },
    );
    const pending = [
      store.get(id(4)),
      store.readConfig(),
      store.missing([id(5)]),
    ];
    toClient.end();
    for (const call of pending) {
      const error = await caught(call);
      expect(isBlindsyncError(error, "transient")).toBe(true);
      expect((error as Error).message).toMatch(
        /Lost the connection .*the server closed the connection/,
      );
    }
    expect(
      isBlindsyncError(await caught(store.readConfig()), "transient"),
    ).toBe(true);
    await store.close();
  });

  it("reports a server that prints text into the pipe as a protocol error with a hint", async () => {
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    toServer.once("data", () => toClient.write("Welcome to the server!\n"));
    const error = await caught(
      RemoteStore.connect(
        { readable: toClient, writable: toServer },
        { path: "r", mode: "open" },
      ),
    );
    expect(isBlindsyncError(error, "protocol")).toBe(true);
    expect((error as BlindsyncError).hint).toMatch(/login banner/);
  });

  it("rejects connect() with the server's refusal", async () => {
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    const served = serveConnection({
      input: toServer,
      output: toClient,
      openStore: () =>
        Promise.reject(
          new BlindsyncError("no-repository", 'No repository at "x"'),
        ),
      log: () => undefined,
    });
    const error = await caught(
      RemoteStore.connect(
        { readable: toClient, writable: toServer },
        { path: "x", mode: "open" },
      ),
    );
    expect(isBlindsyncError(error, "no-repository")).toBe(true);
    await served;
  });

  it("splits a put larger than one frame and stores every blob", async () => {
    const backing = new MemoryStore();
    const { store, served } = await connectPair(backing);
    const blobs = Array.from({ length: 6 }, (_, i) => ({
      id: id(i + 10),
      kind: "data" as const,
      bytes: new Uint8Array(12 * 1024 * 1024).fill(i),
    }));
    await store.put(blobs);
    expect(await backing.missing(blobs.map((b) => b.id))).toEqual([]);
    expect((await store.get(id(15)))[0]).toBe(5);
    await store.close();
    await served;
  });

  it("stops reading a list early without disturbing later calls", async () => {
    const { store, served } = await connectPair(new MemoryStore());
    await store.put(
      Array.from({ length: 5000 }, (_, i) => {
        const blobId = new Uint8Array(32);
        new DataView(blobId.buffer).setUint32(0, i);
        return { id: blobId, kind: "tree" as const, bytes: new Uint8Array(1) };
      }),
    );
    for await (const info of store.list()) {
      expect(info.kind).toBe("tree");
      break;
    }
    expect(await store.missing([id(200)])).toEqual([id(200)]);
    await store.close();
    await served;
  });

  it("close() says goodbye and rejects later calls", async () => {
    const { store, served, logs } = await connectPair(new MemoryStore());
    await store.close();
    await served;
    expect(logs).toEqual([]);
    expect(await caught(store.readConfig())).toBeInstanceOf(BlindsyncError);
  });
});

/** Sends `messages` to a served MemoryStore as raw frames and returns every answer. */
async function exchange(
  messages: readonly Message[],
  backing: Store = new MemoryStore(),
): Promise<Message[]> {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const received: Buffer[] = [];
  toClient.on("data", (chunk: Buffer) => received.push(chunk));
  const served = serveConnection({
    input: toServer,
    output: toClient,
    openStore: () => Promise.resolve(backing),
    log: () => undefined,
  });
  for (const message of messages)
    toServer.write(encodeFrame(encodeMessage(message)));
  toServer.end();
  await served;
  return new FrameDecoder()
    .push(Buffer.concat(received))
    .map((payload) => decodeServerMessage(payload));
}

const hello = (version: number): Message => ({
  type: "hello",
  version,
  capabilities: [],
  path: "r",
  mode: "create",
});

describe("protocol version 2: locks and the generation as typed messages", () => {
  it("the server refuses a version 1 client's hello, naming both versions", async () => {
    const [answer] = await exchange([
      hello(1),
      { type: "generation", requestId: 1 },
    ]);
    expect(answer).toMatchObject({
      type: "error",
      requestId: 0,
      kind: "protocol",
      message: `The client speaks protocol version 1, this server ${PROTOCOL_VERSION}`,
    });
  });

  it("the client refuses a version 1 server, naming both versions", async () => {
    const { toClient, toServer } = helloOnlyServer(1);
    const error = await caught(
      RemoteStore.connect(
        { readable: toClient, writable: toServer },
        { path: "r", mode: "open" },
      ),
    );
    expect(isBlindsyncError(error, "protocol")).toBe(true);
    expect((error as Error).message).toContain(
      `speaks protocol version 1, this client ${PROTOCOL_VERSION}`,
    );
  });

  it("a lock request the store's rules refuse is a protocol error for that request, and the connection goes on", async () => {
    const answers = await exchange([
      hello(PROTOCOL_VERSION),
      {
        type: "acquire-lock",
        requestId: 1,
        request: { exclusive: false, owner: "a\nb", leaseMs: 60_000 },
      },
      { type: "refresh-lock", requestId: 2, id: "ab", leaseMs: 0 },
      { type: "generation", requestId: 3 },
      { type: "goodbye", requestId: 4 },
    ]);
    expect(answers.slice(1)).toMatchObject([
      {
        type: "error",
        requestId: 1,
        kind: "protocol",
        message: expect.stringMatching(
          /^Malformed "acquire-lock" request: /,
        ) as string,
      },
      {
        type: "error",
        requestId: 2,
        kind: "protocol",
        message: expect.stringMatching(
          /^Malformed "refresh-lock" request: /,
        ) as string,
      },
      { type: "number", requestId: 3, value: 0 },
      { type: "ok", requestId: 4 },
    ]);
  });

  it("lock answers carry the holders' public fields only, as typed fields", async () => {
    const backing = new MemoryStore();
    const held = await backing.acquireLock({
      exclusive: true,
      owner: "prune, pid 1",
      leaseMs: 60_000,
    });
    if (!held.acquired) throw new Error("expected the lock");
    const answers = await exchange(
      [
        hello(PROTOCOL_VERSION),
        {
          type: "acquire-lock",
          requestId: 1,
          request: { exclusive: false, owner: "backup", leaseMs: 60_000 },
        },
        { type: "remove-locks", requestId: 2, all: false },
      ],
      backing,
    );
    const holder = {
      exclusive: true,
      owner: "prune, pid 1",
      expiresAt: expect.any(Number) as number,
    };
    expect(answers.slice(1)).toEqual([
      {
        type: "lock-attempt",
        requestId: 1,
        attempt: { acquired: false, holders: [holder], more: 0 },
      },
      {
        type: "locks-removed",
        requestId: 2,
        result: { removed: 0, live: [holder], more: 0 },
      },
    ]);
  });
});
