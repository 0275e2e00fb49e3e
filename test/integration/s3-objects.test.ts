/**
 * The S3 backend against s3rver on 127.0.0.1 (test/helpers/s3rver.ts): the ObjectStore
 * conformance suite, each test under a fresh prefix, then what only S3 has: keys under the
 * prefix, paged listings, a missing bucket, refused or missing credentials, a server that dies.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { exitCodeOf } from "../../src/cli/exit.js";
import { BlindsyncError } from "../../src/errors.js";
import { openS3ObjectStore } from "../../src/store/objects/s3/index.js";
import { S3ObjectStore } from "../../src/store/objects/s3/s3-object-store.js";
import type { S3ObjectStoreOptions } from "../../src/store/objects/s3/s3-config.js";
import { objectStoreConformanceSuite } from "../object-store-suite.js";
import { isCleanError, runCli } from "../helpers/cli.js";
import { startS3rver, type S3rver } from "../helpers/s3rver.js";

let server: S3rver;
const savedEnv = { ...process.env };

beforeAll(async () => {
  server = await startS3rver();
  // The SDK reads credentials and the region from the environment, as it does for users; no
  // shared config file of this machine may answer instead.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: server.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: server.env.AWS_SECRET_ACCESS_KEY,
    AWS_REGION: server.env.AWS_REGION,
    AWS_CONFIG_FILE: "/nonexistent/blindsync-test-config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/blindsync-test-credentials",
    AWS_EC2_METADATA_DISABLED: "true",
  });
});

afterAll(async () => {
  await server.stop();
});

/** Environment changes a test makes, undone after it. */
afterEach(() => {
  for (const name of Object.keys(process.env))
    if (name.startsWith("AWS_") && !(name in savedEnv))
      Reflect.deleteProperty(process.env, name);
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: server.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: server.env.AWS_SECRET_ACCESS_KEY,
    AWS_REGION: server.env.AWS_REGION,
    AWS_CONFIG_FILE: "/nonexistent/blindsync-test-config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/blindsync-test-credentials",
    AWS_EC2_METADATA_DISABLED: "true",
  });
});

function options(
  overrides: Partial<S3ObjectStoreOptions> = {},
): S3ObjectStoreOptions {
  return {
    bucket: server.bucket,
    prefix: `run-${randomUUID()}`,
    endpoint: server.endpoint,
    create: true,
    ...overrides,
  };
}

/** Every object under the store's prefix, deleted through the store itself. */
async function emptied(objects: S3ObjectStore): Promise<void> {
  for await (const { name } of objects.list("")) await objects.delete(name);
}

objectStoreConformanceSuite("S3ObjectStore on s3rver", async () => {
  const objects = await S3ObjectStore.open(options());
  const cleaner = await S3ObjectStore.open({
    ...options(),
    prefix: objects.where.slice(`s3://${server.bucket}/`.length),
  });
  return {
    objects,
    cleanup: async () => {
      await emptied(cleaner);
      await cleaner.close();
    },
  };
});

async function rejection(promise: Promise<unknown>): Promise<BlindsyncError> {
  const caught = await promise.then(
    () => new Error("expected a rejection, got a result"),
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(BlindsyncError);
  return caught as BlindsyncError;
}

describe("S3ObjectStore keys", () => {
  it("stores name N under prefix/N, with no doubled or leading slash", async () => {
    const prefix = `run-${randomUUID()}`;
    const objects = await S3ObjectStore.open(
      options({ prefix: `/${prefix}//sub/` }),
    );
    const whole = await S3ObjectStore.open(options({ prefix: "" }));
    try {
      expect(objects.where).toBe(`s3://${server.bucket}/${prefix}/sub`);
      await objects.put("index/a", new Uint8Array([1, 2, 3]));
      const keys: string[] = [];
      for await (const { name } of whole.list(`${prefix}/`)) keys.push(name);
      expect(keys).toEqual([`${prefix}/sub/index/a`]);
      expect(await whole.get(`${prefix}/sub/index/a`)).toEqual(
        new Uint8Array([1, 2, 3]),
      );
      await emptied(objects);
    } finally {
      await objects.close();
      await whole.close();
    }
  });

  it("follows continuation tokens through a listing of many pages", async () => {
    const objects = await S3ObjectStore.open({
      ...options(),
      listPageSize: 2,
    });
    try {
      const names = Array.from(
        { length: 7 },
        (_, i) => `packs/0${i % 3}/p${i}`,
      );
      await Promise.all(
        names.map((name) => objects.put(name, new Uint8Array(1))),
      );
      const listed: string[] = [];
      for await (const { name } of objects.list("packs/")) listed.push(name);
      expect(listed.sort()).toEqual(names.sort());
      await emptied(objects);
    } finally {
      await objects.close();
    }
  });

  it("openS3ObjectStore() loads the SDK and opens the same store", async () => {
    const objects = await openS3ObjectStore(options());
    try {
      expect(objects).toBeInstanceOf(S3ObjectStore);
      await objects.put("config", new Uint8Array([9]));
      expect(await objects.get("config")).toEqual(new Uint8Array([9]));
      await objects.delete("config");
    } finally {
      await objects.close();
    }
  });

  it("reaches the endpoint named by AWS_ENDPOINT_URL alone (127.0.0.1: path-style)", async () => {
    process.env.AWS_ENDPOINT_URL = server.endpoint;
    const { bucket, prefix, create } = options();
    const objects = await S3ObjectStore.open({ bucket, prefix, create });
    try {
      await objects.put("config", new Uint8Array([7]));
      expect(await objects.stat("config")).toEqual({ name: "config", size: 1 });
      await objects.delete("config");
    } finally {
      await objects.close();
    }
  });
});

describe("S3ObjectStore.open() failures", () => {
  it("a missing bucket is no-repository (exit 10) naming it, and is not created", async () => {
    for (const create of [true, false]) {
      const error = await rejection(
        S3ObjectStore.open(options({ bucket: "no-such-bucket", create })),
      );
      expect(error.kind).toBe("no-repository");
      expect(exitCodeOf(error.kind)).toBe(10);
      expect(error.message).toContain('"no-such-bucket"');
      expect(error.message).toContain(server.endpoint);
      expect(error.hint).toMatch(/does not create buckets/);
    }
  });

  it("refused credentials fail clearly, naming the variables and never the secret", async () => {
    process.env.AWS_ACCESS_KEY_ID = "NOT-S3RVER";
    process.env.AWS_SECRET_ACCESS_KEY = "very-secret-value";
    const error = await rejection(S3ObjectStore.open(options()));
    expect(error.kind).toBe("failed");
    expect(error.message).toContain(`s3://${server.bucket}/`);
    expect(error.message).toContain("403");
    expect(error.hint).toContain("AWS_ACCESS_KEY_ID");
    expect(error.hint).toContain("AWS_SECRET_ACCESS_KEY");
    expect(`${error.message} ${error.hint}`).not.toContain("very-secret-value");
    expect(`${error.message} ${error.hint}`).not.toContain("NOT-S3RVER");
  });

  it("missing credentials fail with a hint naming the variables", async () => {
    Reflect.deleteProperty(process.env, "AWS_ACCESS_KEY_ID");
    Reflect.deleteProperty(process.env, "AWS_SECRET_ACCESS_KEY");
    const error = await rejection(S3ObjectStore.open(options()));
    expect(error.kind).toBe("failed");
    expect(error.message).toMatch(/No S3 credentials found/);
    expect(error.hint).toContain("AWS_ACCESS_KEY_ID");
    expect(error.hint).toContain("AWS_PROFILE");
  });

  it("an endpoint where nothing listens is transient, naming the endpoint", async () => {
    const gone = await startS3rver();
    await gone.stop();
    const started = Date.now();
    const error = await rejection(
      S3ObjectStore.open(options({ endpoint: gone.endpoint })),
    );
    expect(error.kind).toBe("transient");
    expect(error.message).toContain(gone.endpoint);
    expect(error.message).toContain("ECONNREFUSED");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("S3ObjectStore when s3rver dies mid-way", () => {
  it("every call then fails as transient within seconds, naming the endpoint", async () => {
    const dying = await startS3rver();
    const objects = await S3ObjectStore.open(
      options({ endpoint: dying.endpoint, bucket: dying.bucket }),
    );
    try {
      await objects.put("packs/00/p", new Uint8Array(1000));
      expect(await objects.stat("packs/00/p")).toEqual({
        name: "packs/00/p",
        size: 1000,
      });
      await dying.stop();
      const started = Date.now();
      const calls: Record<string, () => Promise<unknown>> = {
        put: () => objects.put("packs/00/q", new Uint8Array(10)),
        get: () => objects.get("packs/00/p"),
        range: () => objects.get("packs/00/p", { offset: 1, length: 2 }),
        stat: () => objects.stat("packs/00/p"),
        delete: () => objects.delete("packs/00/p"),
        list: async () => {
          for await (const info of objects.list(""))
            expect(info).toBeUndefined();
        },
      };
      for (const [call, promise] of Object.entries(calls)) {
        const error = await rejection(promise());
        expect(error.kind, call).toBe("transient");
        expect(error.message, call).toContain(dying.endpoint);
      }
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await objects.close();
      await dying.stop();
    }
  });
});

describe("the CLI on an s3: repository (the built executable)", () => {
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), "blindsync-s3-cli-"));
  });
  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  /** The CLI with s3rver's credentials and nothing of this machine's AWS configuration. */
  function cli(args: string[], env: Record<string, string | undefined> = {}) {
    return runCli(args, {
      cacheDir,
      env: {
        ...server.env,
        AWS_ENDPOINT_URL: undefined,
        AWS_CONFIG_FILE: "/nonexistent/blindsync-test-config",
        AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/blindsync-test-credentials",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined,
        ...env,
      },
    });
  }

  it("init and snapshots work, with nothing on stderr (no SDK warning about Node 20)", async () => {
    const repo = `s3:${server.bucket}/cli-${randomUUID()}`;
    const init = await cli(["init", repo, "--s3-endpoint", server.endpoint]);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
    const listed = await cli(["snapshots", repo], {
      AWS_ENDPOINT_URL: server.endpoint,
      AWS_REGION: undefined,
    });
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
  });

  it("a missing bucket exits 10 with the bucket named and a hint", async () => {
    const result = await cli([
      "init",
      "s3:no-such-bucket/x",
      "--s3-endpoint",
      server.endpoint,
    ]);
    expect(result.code).toBe(10);
    expect(isCleanError(result.stderr)).toBe(true);
    expect(result.stderr).toContain('No S3 bucket "no-such-bucket"');
    expect(result.stderr).toContain("hint: blindsync does not create buckets");
  });

  it("refused credentials exit 1, naming the variables and not the secret", async () => {
    const result = await cli(
      ["snapshots", `s3:${server.bucket}/x`, "--s3-endpoint", server.endpoint],
      {
        AWS_ACCESS_KEY_ID: "WRONG-KEY",
        AWS_SECRET_ACCESS_KEY: "hidden-secret",
      },
    );
    expect(result.code).toBe(1);
    expect(isCleanError(result.stderr)).toBe(true);
    expect(result.stderr).toContain("AWS_ACCESS_KEY_ID");
    expect(result.stderr).not.toContain("hidden-secret");
    expect(result.stderr).not.toContain("WRONG-KEY");
  });
});
