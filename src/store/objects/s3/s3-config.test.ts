import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createS3Client } from "./s3-client.js";
import {
  DEFAULT_REGION,
  endpointForMessages,
  formatS3Where,
  keyPrefix,
  s3ClientConfig,
  usesPathStyle,
  type S3ObjectStoreOptions,
} from "./s3-config.js";

const base: S3ObjectStoreOptions = {
  bucket: "vault",
  prefix: "host",
  create: false,
};

/**
 * The URL the SDK would send a HeadObject to, captured by a middleware at the last step before
 * the wire and thrown back, so no request leaves the process.
 */
async function requestUrl(client: S3Client): Promise<string> {
  client.middlewareStack.add(
    () => (args) => {
      const request = args.request as {
        protocol: string;
        hostname: string;
        port?: number;
        path: string;
      };
      const port = request.port === undefined ? "" : `:${request.port}`;
      return Promise.reject(
        new Error(
          `${request.protocol}//${request.hostname}${port}${request.path}`,
        ),
      );
    },
    { step: "finalizeRequest", name: "captureUrl", priority: "low" },
  );
  try {
    await client.send(new HeadObjectCommand({ Bucket: "vault", Key: "k" }));
  } catch (error) {
    return (error as Error).message;
  } finally {
    client.destroy();
  }
  throw new Error("the request was not captured");
}

/** AWS_* variables cleared for a test, and restored after it. */
const saved = new Map<string, string | undefined>();
beforeEach(() => {
  for (const name of Object.keys(process.env))
    if (name.startsWith("AWS_")) {
      saved.set(name, process.env[name]);
      Reflect.deleteProperty(process.env, name);
    }
  // No shared config of the machine may answer for the region or the credentials.
  process.env.AWS_CONFIG_FILE = "/nonexistent/blindsync-test-config";
  process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/blindsync-test-creds";
  process.env.AWS_ACCESS_KEY_ID = "test-key";
  process.env.AWS_SECRET_ACCESS_KEY = "test-secret";
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
});
afterEach(() => {
  for (const name of Object.keys(process.env))
    if (name.startsWith("AWS_")) Reflect.deleteProperty(process.env, name);
  for (const [name, value] of saved)
    if (value !== undefined) process.env[name] = value;
  saved.clear();
});

describe("usesPathStyle()", () => {
  it.each([
    ["http://127.0.0.1:9000", true],
    ["http://10.1.2.3", true],
    ["http://[::1]:9000", true],
    ["http://localhost:9000", true],
    ["https://minio.localhost", true],
    ["https://s3.example.com", false],
    ["https://s3.eu-central-003.backblazeb2.com", false],
    ["https://localhost.example.com", false],
    ["not a url", false],
  ])("%s -> %s", (endpoint, pathStyle) => {
    expect(usesPathStyle(endpoint, undefined)).toBe(pathStyle);
  });

  it("is forced by --s3-path-style, and off for AWS itself", () => {
    expect(usesPathStyle("https://s3.example.com", true)).toBe(true);
    expect(usesPathStyle(undefined, true)).toBe(true);
    expect(usesPathStyle(undefined, undefined)).toBe(false);
  });
});

describe("the SDK client addresses the bucket as configured", () => {
  it("path-style for a 127.0.0.1, [::1] or localhost endpoint", async () => {
    for (const [endpoint, url] of [
      ["http://127.0.0.1:9000", "http://127.0.0.1:9000/vault/k"],
      ["http://[::1]:9000", "http://[::1]:9000/vault/k"],
      ["http://localhost:9000", "http://localhost:9000/vault/k"],
    ] as const)
      expect(
        await requestUrl(await createS3Client({ ...base, endpoint })),
        endpoint,
      ).toBe(url);
  });

  it("virtual-hosted for a named endpoint, path-style when forced", async () => {
    const endpoint = "https://s3.example.com";
    expect(await requestUrl(await createS3Client({ ...base, endpoint }))).toBe(
      "https://vault.s3.example.com/k",
    );
    expect(
      await requestUrl(
        await createS3Client({ ...base, endpoint, forcePathStyle: true }),
      ),
    ).toBe("https://s3.example.com/vault/k");
  });

  it("takes the endpoint from AWS_ENDPOINT_URL and still chooses path-style for localhost", async () => {
    process.env.AWS_ENDPOINT_URL = "http://localhost:9100";
    expect(await requestUrl(await createS3Client(base))).toBe(
      "http://localhost:9100/vault/k",
    );
    process.env.AWS_ENDPOINT_URL_S3 = "http://127.0.0.2:9200";
    expect(await requestUrl(await createS3Client(base))).toBe(
      "http://127.0.0.2:9200/vault/k",
    );
  });

  it("--s3-endpoint wins over AWS_ENDPOINT_URL", async () => {
    process.env.AWS_ENDPOINT_URL = "https://s3.example.com";
    expect(
      await requestUrl(
        await createS3Client({ ...base, endpoint: "http://127.0.0.1:9300" }),
      ),
    ).toBe("http://127.0.0.1:9300/vault/k");
  });

  it("goes to AWS, virtual-hosted in the configured region, without an endpoint", async () => {
    process.env.AWS_REGION = "eu-west-3";
    expect(await requestUrl(await createS3Client(base))).toBe(
      "https://vault.s3.eu-west-3.amazonaws.com/k",
    );
  });
});

describe("createS3Client()", () => {
  it(`uses ${DEFAULT_REGION} only when the SDK finds no region`, async () => {
    const fallback = await createS3Client(base);
    expect(await fallback.config.region()).toBe(DEFAULT_REGION);
    fallback.destroy();
    process.env.AWS_REGION = "ap-southeast-2";
    const configured = await createS3Client(base);
    expect(await configured.config.region()).toBe("ap-southeast-2");
    configured.destroy();
  });

  it("retries in the SDK's standard mode, unless the user configured retries", async () => {
    const client = await createS3Client(base);
    expect(await client.config.retryStrategy()).toMatchObject({
      mode: "standard",
    });
    expect(await client.config.maxAttempts()).toBe(5);
    client.destroy();
    process.env.AWS_MAX_ATTEMPTS = "2";
    const user = await createS3Client(base);
    expect(await user.config.maxAttempts()).toBe(2);
    user.destroy();
  });

  it("sets a connect timeout and an idle timeout, not a total one", () => {
    expect(
      s3ClientConfig(base, {}, true).requestHandler as Record<string, unknown>,
    ).toEqual({ connectionTimeout: 10_000, socketTimeout: 120_000 });
  });
});

describe("keys and messages", () => {
  it.each([
    ["", ""],
    ["/", ""],
    ["host", "host/"],
    ["/host/", "host/"],
    ["a//b/", "a/b/"],
  ])("prefix %j -> keys start with %j", (prefix, keys) => {
    expect(keyPrefix(prefix)).toBe(keys);
  });

  it("names the location as s3://bucket/prefix", () => {
    expect(formatS3Where("vault", "a/b/")).toBe("s3://vault/a/b");
    expect(formatS3Where("vault", "")).toBe("s3://vault/");
  });

  it("shows an endpoint without a user or password in it", () => {
    expect(endpointForMessages("https://me:secret@s3.example.com:9000/")).toBe(
      "https://s3.example.com:9000",
    );
    expect(endpointForMessages("http://127.0.0.1:9000")).toBe(
      "http://127.0.0.1:9000",
    );
    expect(endpointForMessages("weird//me:secret@host")).toBe("weird//host");
  });
});
