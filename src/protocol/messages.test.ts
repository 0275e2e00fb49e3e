import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { isBlindsyncError } from "../errors.js";
import {
  ERROR_KINDS,
  PROTOCOL_VERSION,
  decodeClientMessage,
  decodeMessage,
  decodeServerMessage,
  encodeMessage,
  encodeMessageFrame,
  encodeMessageFrameParts,
  type Message,
} from "./messages.js";

const id = fc.uint8Array({ minLength: 32, maxLength: 32 });
const kind = fc.constantFrom(
  "data" as const,
  "tree" as const,
  "snapshot" as const,
);
const requestId = fc.nat({ max: 0xffffffff });
const text = fc.string({ maxLength: 40 });
const slot = fc.record({ name: text, bytes: fc.uint8Array({ maxLength: 64 }) });
const whole = fc.maxSafeNat();
const holder = fc.record({
  exclusive: fc.boolean(),
  owner: text,
  expiresAt: whole,
});

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant("hello" as const),
    version: fc.nat({ max: 0xffff }),
    capabilities: fc.array(text, { maxLength: 4 }),
    path: text,
    mode: fc.constantFrom("open" as const, "create" as const),
  }),
  fc.record({
    type: fc.constant("server-hello" as const),
    version: fc.nat({ max: 0xffff }),
    capabilities: fc.array(text, { maxLength: 4 }),
    appendOnly: fc.boolean(),
  }),
  fc.record({
    type: fc.constantFrom(
      "read-config" as const,
      "list-key-slots" as const,
      "compact" as const,
      "generation" as const,
      "bump-generation" as const,
      "goodbye" as const,
      "flush" as const,
      "ok" as const,
      "list-end" as const,
    ),
    requestId,
  }),
  fc.record({
    type: fc.constantFrom(
      "missing" as const,
      "delete" as const,
      "ids" as const,
    ),
    requestId,
    ids: fc.array(id, { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant("get" as const), requestId, id }),
  fc.record({
    type: fc.constant("list" as const),
    requestId,
    kind: fc.option(kind, { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("create" as const),
    requestId,
    config: fc.uint8Array({ maxLength: 64 }),
    slot,
  }),
  fc.record({ type: fc.constant("add-key-slot" as const), requestId, slot }),
  fc.record({
    type: fc.constant("remove-key-slot" as const),
    requestId,
    name: text,
  }),
  fc.record({
    type: fc.constantFrom("put" as const, "put-buffered" as const),
    requestId,
    blobs: fc.array(
      fc.record({ id, kind, bytes: fc.uint8Array({ maxLength: 100 }) }),
      { maxLength: 4 },
    ),
  }),
  fc.record({
    type: fc.constant("acquire-lock" as const),
    requestId,
    request: fc.record({
      exclusive: fc.boolean(),
      owner: text,
      leaseMs: whole,
    }),
  }),
  fc.record({
    type: fc.constant("refresh-lock" as const),
    requestId,
    id: text,
    leaseMs: whole,
  }),
  fc.record({
    type: fc.constant("release-lock" as const),
    requestId,
    id: text,
  }),
  fc.record({
    type: fc.constant("remove-locks" as const),
    requestId,
    all: fc.boolean(),
  }),
  fc.record({ type: fc.constant("number" as const), requestId, value: whole }),
  fc.record({
    type: fc.constant("lock-attempt" as const),
    requestId,
    attempt: fc.oneof(
      fc.record({
        acquired: fc.constant(true as const),
        id: text,
        leaseMs: whole,
      }),
      fc.record({
        acquired: fc.constant(false as const),
        holders: fc.array(holder, { maxLength: 4 }),
        more: whole,
      }),
    ),
  }),
  fc.record({
    type: fc.constant("locks-removed" as const),
    requestId,
    result: fc.record({
      removed: whole,
      live: fc.array(holder, { maxLength: 4 }),
      more: whole,
    }),
  }),
  fc.record({
    type: fc.constant("bytes" as const),
    requestId,
    bytes: fc.uint8Array({ maxLength: 100 }),
  }),
  fc.record({
    type: fc.constant("key-slots" as const),
    requestId,
    slots: fc.array(slot, { maxLength: 4 }),
  }),
  fc.record({
    type: fc.constant("list-items" as const),
    requestId,
    items: fc.array(
      fc.record({ id, kind, length: fc.nat({ max: 0xffffffff }) }),
      { maxLength: 4 },
    ),
  }),
  fc.record({
    type: fc.constant("error" as const),
    requestId,
    kind: fc.constantFrom(...ERROR_KINDS),
    message: text,
    hint: fc.option(text, { nil: undefined }),
  }),
);

function expectProtocolError(run: () => unknown): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(isBlindsyncError(caught, "protocol")).toBe(true);
}

describe("messages", () => {
  it("decode(encode(m)) returns m for every message", () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
    );
  });

  it("frame parts join to exactly the frame, and large blobs are passed by reference", () => {
    fc.assert(
      fc.property(message, (m) => {
        const joined = Buffer.concat(encodeMessageFrameParts(m));
        expect(joined).toEqual(Buffer.from(encodeMessageFrame(m)));
      }),
    );
    const big = new Uint8Array(64 * 1024).fill(7);
    const small = new Uint8Array(100).fill(9);
    const put: Message = {
      type: "put",
      requestId: 5,
      blobs: [
        { id: new Uint8Array(32).fill(1), kind: "data", bytes: big },
        { id: new Uint8Array(32).fill(2), kind: "tree", bytes: small },
        { id: new Uint8Array(32).fill(3), kind: "data", bytes: big },
      ],
    };
    const parts = encodeMessageFrameParts(put);
    expect(parts.filter((part) => part === big)).toHaveLength(2);
    expect(Buffer.concat(parts)).toEqual(Buffer.from(encodeMessageFrame(put)));
  });

  it("throws only BlindsyncError('protocol') on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (error) {
          expect(isBlindsyncError(error, "protocol")).toBe(true);
        }
      }),
    );
  });

  it("rejects every truncation of a valid message", () => {
    fc.assert(
      fc.property(message, fc.nat(), (m, cut) => {
        const bytes = encodeMessage(m);
        expectProtocolError(() =>
          decodeMessage(bytes.subarray(0, cut % bytes.length)),
        );
      }),
    );
  });

  it("rejects trailing bytes after a valid message", () => {
    fc.assert(
      fc.property(
        message,
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        (m, extra) => {
          expectProtocolError(() =>
            decodeMessage(new Uint8Array([...encodeMessage(m), ...extra])),
          );
        },
      ),
    );
  });

  it("rejects an unknown message type", () => {
    expectProtocolError(() => decodeMessage(Uint8Array.of(0x42, 0, 0, 0, 1)));
  });

  it("rejects a hello without the magic bytes", () => {
    const bytes = encodeMessage({
      type: "hello",
      version: PROTOCOL_VERSION,
      capabilities: [],
      path: "x",
      mode: "open",
    });
    bytes[1] = 0;
    expectProtocolError(() => decodeMessage(bytes));
  });

  it("rejects an error kind that src/errors.ts does not define", () => {
    const bytes = encodeMessage({
      type: "error",
      requestId: 1,
      kind: "failed",
      message: "m",
      hint: undefined,
    });
    const tampered = Buffer.from(bytes);
    tampered.write("faile!", 7);
    expectProtocolError(() => decodeMessage(tampered));
  });

  it("rejects a count larger than the payload before building the list", () => {
    const bytes = new Uint8Array(9);
    bytes[0] = 0x12; // missing
    new DataView(bytes.buffer).setUint32(5, 0xffffffff);
    expectProtocolError(() => decodeMessage(bytes));
  });

  it("rejects invalid UTF-8 in a string", () => {
    const bytes = encodeMessage({
      type: "remove-key-slot",
      requestId: 1,
      name: "ab",
    });
    bytes[bytes.length - 1] = 0xff;
    expectProtocolError(() => decodeMessage(bytes));
  });

  it("keeps client and server messages apart", () => {
    const ok = encodeMessage({ type: "ok", requestId: 1 });
    const get = encodeMessage({
      type: "get",
      requestId: 1,
      id: new Uint8Array(32),
    });
    expectProtocolError(() => decodeClientMessage(ok));
    expectProtocolError(() => decodeServerMessage(get));
    expect(decodeClientMessage(get).type).toBe("get");
    expect(decodeServerMessage(ok).type).toBe("ok");
  });

  it("rejects a whole number above 2^53 - 1 and a flag other than 0 or 1", () => {
    const number = encodeMessage({ type: "number", requestId: 1, value: 0 });
    number.fill(0xff, 5);
    expectProtocolError(() => decodeMessage(number));
    const request = encodeMessage({
      type: "remove-locks",
      requestId: 1,
      all: true,
    });
    request[5] = 2;
    expectProtocolError(() => decodeMessage(request));
  });

  it("rejects a holder count larger than the payload before building the list", () => {
    const bytes = encodeMessage({
      type: "locks-removed",
      requestId: 1,
      result: { removed: 0, live: [], more: 0 },
    });
    new DataView(bytes.buffer).setUint32(13, 0xffffffff);
    expectProtocolError(() => decodeMessage(bytes));
  });

  it("refuses to encode a number the protocol cannot carry exactly", () => {
    for (const value of [-1, 0.5, 2 ** 53])
      expect(() =>
        encodeMessage({ type: "number", requestId: 1, value }),
      ).toThrow(RangeError);
  });

  it("refuses to encode a blob id that is not 32 bytes", () => {
    expect(() =>
      encodeMessage({ type: "get", requestId: 1, id: new Uint8Array(31) }),
    ).toThrow(RangeError);
  });
});
