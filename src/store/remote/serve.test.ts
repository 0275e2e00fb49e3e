import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { storeConformanceSuite } from "../../../test/store-suite.js";
import { exitOf, spawnServe } from "../../../test/helpers/serve-process.js";
import { BlindsyncError, isBlindsyncError } from "../../errors.js";
import {
  FrameDecoder,
  decodeServerMessage,
  encodeFrame,
  encodeMessage,
  type OpenMode,
} from "../../protocol/index.js";
import { SqliteStore, sqliteIntegrityCheck } from "../sqlite/sqlite-store.js";
import { RemoteStore } from "./client.js";
import { resolveRepositoryPath } from "./serve.js";

async function connectServe(
  path: string,
  args: readonly string[],
  mode: OpenMode,
  cwd?: string,
) {
  const serve = spawnServe(args, cwd === undefined ? {} : { cwd });
  const exited = exitOf(serve.child);
  const store = await RemoteStore.connect(
    { readable: serve.child.stdout, writable: serve.child.stdin },
    {
      path,
      mode,
      onClose: async () => {
        await exited;
      },
      describeDisconnect: () => `serve said: ${serve.stderr()}`,
    },
  );
  return { store, ...serve, exited };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

function blob(byte: number, length = 1000) {
  return {
    id: new Uint8Array(32).fill(byte),
    kind: "data" as const,
    bytes: new Uint8Array(length).fill(byte),
  };
}

storeConformanceSuite(
  "RemoteStore over a spawned blindsync serve process",
  async ({ appendOnly }) => {
    const dir = await mkdtemp(join(tmpdir(), "blindsync-serve-"));
    const { store } = await connectServe(
      join(dir, "repo"),
      appendOnly ? ["--append-only"] : [],
      "create",
    );
    return {
      store,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
);

describe("blindsync serve", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-serve-"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a repository outside --restrict-to-path and creates nothing", async () => {
    const allowed = join(dir, "allowed");
    await mkdir(allowed);
    const outside = join(dir, "outside", "repo");
    const serve = spawnServe(["--restrict-to-path", allowed]);
    const error = await caught(
      RemoteStore.connect(
        { readable: serve.child.stdout, writable: serve.child.stdin },
        { path: outside, mode: "create" },
      ),
    );
    expect(isBlindsyncError(error, "failed")).toBe(true);
    expect((error as BlindsyncError).message).toMatch(
      /is outside the directories this server allows/,
    );
    expect((error as BlindsyncError).message).not.toContain(allowed);
    expect(await exitOf(serve.child)).toBe(0);
    expect(existsSync(join(dir, "outside"))).toBe(false);
  });

  it("refuses a path that escapes --restrict-to-path through a symlink and creates nothing", async () => {
    const allowed = join(dir, "allowed");
    const elsewhere = join(dir, "elsewhere");
    await mkdir(allowed);
    await mkdir(elsewhere);
    await symlink(elsewhere, join(allowed, "link"));
    const serve = spawnServe(["--restrict-to-path", allowed]);
    const error = await caught(
      RemoteStore.connect(
        { readable: serve.child.stdout, writable: serve.child.stdin },
        { path: join(allowed, "link", "repo"), mode: "create" },
      ),
    );
    expect(isBlindsyncError(error, "failed")).toBe(true);
    expect(await exitOf(serve.child)).toBe(0);
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it("serves a repository inside --restrict-to-path, given relative to its working directory", async () => {
    const allowed = join(dir, "allowed");
    await mkdir(allowed);
    const { store, exited } = await connectServe(
      "allowed/repo",
      ["--restrict-to-path", allowed],
      "create",
      dir,
    );
    await store.create(new Uint8Array([1]), {
      name: "a",
      bytes: new Uint8Array([2]),
    });
    await store.close();
    expect(await exited).toBe(0);
    expect(existsSync(join(allowed, "repo", "blindsync.sqlite"))).toBe(true);
  });

  it("answers no-repository for a missing repository opened without create, and creates nothing", async () => {
    const serve = spawnServe([]);
    const error = await caught(
      RemoteStore.connect(
        { readable: serve.child.stdout, writable: serve.child.stdin },
        { path: join(dir, "nothing"), mode: "open" },
      ),
    );
    expect(isBlindsyncError(error, "no-repository")).toBe(true);
    expect(existsSync(join(dir, "nothing"))).toBe(false);
  });

  it("refuses delete through the protocol with --append-only", async () => {
    const { store } = await connectServe(
      join(dir, "repo"),
      ["--append-only"],
      "create",
    );
    expect(store.appendOnly).toBe(true);
    await store.create(new Uint8Array([1]), {
      name: "a",
      bytes: new Uint8Array([2]),
    });
    await store.put([blob(1)]);
    const error = await caught(store.delete([blob(1).id]));
    expect(isBlindsyncError(error, "append-only")).toBe(true);
    expect(await store.get(blob(1).id)).toEqual(blob(1).bytes);
    await store.close();
  });

  it("answers a 4 GiB length prefix with one protocol error frame and exits at once", async () => {
    const serve = spawnServe([]);
    const frames: unknown[] = [];
    const decoder = new FrameDecoder();
    serve.child.stdout.on("data", (chunk: Buffer) => {
      for (const payload of decoder.push(chunk))
        frames.push(decodeServerMessage(payload));
    });
    serve.child.stdin.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3));
    const started = Date.now();
    expect(await exitOf(serve.child)).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(frames).toEqual([
      expect.objectContaining({
        type: "error",
        requestId: 0,
        kind: "protocol",
      }),
    ]);
    expect(serve.stderr()).toMatch(/4294967295 bytes/);
  });

  it("answers garbage inside a well-sized frame with a protocol error and exits", async () => {
    const serve = spawnServe([]);
    let out = Buffer.alloc(0);
    serve.child.stdout.on("data", (chunk: Buffer) => {
      out = Buffer.concat([out, chunk]);
    });
    serve.child.stdin.write(
      encodeFrame(new TextEncoder().encode("GET / HTTP/1.1")),
    );
    expect(await exitOf(serve.child)).toBe(0);
    const [payload] = new FrameDecoder().push(out);
    expect(decodeServerMessage(payload!)).toMatchObject({
      type: "error",
      kind: "protocol",
    });
  });

  it("leaves the repository consistent when the connection is cut in the middle of a put", async () => {
    const repo = join(dir, "repo");
    const { store, child, exited } = await connectServe(repo, [], "create");
    await store.create(new Uint8Array([1]), {
      name: "a",
      bytes: new Uint8Array([2]),
    });
    const early = [blob(1), blob(2), blob(3)];
    await store.put(early);
    // Half of a large put frame, then the pipe is cut.
    const frame = encodeFrame(
      encodeMessage({
        type: "put",
        requestId: 999,
        blobs: [blob(4, 4 * 1024 * 1024), blob(5, 4 * 1024 * 1024)],
      }),
    );
    child.stdin.write(frame.subarray(0, frame.length / 2));
    child.stdin.destroy();
    child.stdout.destroy();
    await exited;
    expect(sqliteIntegrityCheck(repo)).toBe("ok");
    const local = await SqliteStore.open(repo);
    try {
      for (const b of early) expect(await local.get(b.id)).toEqual(b.bytes);
      expect(await local.missing([blob(4).id, blob(5).id])).toHaveLength(2);
    } finally {
      await local.close();
    }
  });
});

describe("resolveRepositoryPath()", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-resolve-"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("expands ~ and ~/ to the home directory", async () => {
    const options = { restrictToPaths: [], home: dir, cwd: "/" };
    expect(await resolveRepositoryPath("~", options)).toBe(dir);
    expect(await resolveRepositoryPath("~/a/b", options)).toBe(
      join(dir, "a", "b"),
    );
  });

  it("takes a relative path relative to the working directory", async () => {
    expect(
      await resolveRepositoryPath("bk", { restrictToPaths: [], cwd: dir }),
    ).toBe(join(dir, "bk"));
  });

  it("follows a symlink in the existing part of the path", async () => {
    await mkdir(join(dir, "real"));
    await symlink(join(dir, "real"), join(dir, "link"));
    expect(
      await resolveRepositoryPath(join(dir, "link", "new", "repo"), {
        restrictToPaths: [],
      }),
    ).toBe(join(dir, "real", "new", "repo"));
  });

  it("accepts the restricted directory itself and refuses a sibling with a common prefix", async () => {
    const allowed = join(dir, "bk");
    await mkdir(allowed);
    const options = { restrictToPaths: [allowed] };
    expect(await resolveRepositoryPath(allowed, options)).toBe(allowed);
    expect(
      isBlindsyncError(
        await caught(resolveRepositoryPath(join(dir, "bk2", "r"), options)),
        "failed",
      ),
    ).toBe(true);
    expect(
      isBlindsyncError(
        await caught(resolveRepositoryPath(join(allowed, "..", "x"), options)),
        "failed",
      ),
    ).toBe(true);
  });

  it("refuses ~user, which it cannot expand", async () => {
    expect(
      isBlindsyncError(
        await caught(resolveRepositoryPath("~bob/bk", { restrictToPaths: [] })),
        "usage",
      ),
    ).toBe(true);
  });
});
