/**
 * From the S3 backend's options and the environment to the SDK client's configuration. The SDK
 * keeps its standard chain for everything it already reads (credentials, AWS_REGION,
 * AWS_PROFILE, shared config files, AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS); this file only adds
 * what blindsync decides: the explicit endpoint, path-style addressing for local endpoints, a
 * default region, retries and timeouts.
 */
import { isIP } from "node:net";
import type { S3ClientConfig } from "@aws-sdk/client-s3";

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** Folder inside the bucket, "" for the bucket's root; slashes at either end are ignored. */
  readonly prefix: string;
  /** The CLI's --s3-endpoint; without it the SDK's own (AWS_ENDPOINT_URL, config files, AWS). */
  readonly endpoint?: string;
  /** The CLI's --s3-path-style; without it, path-style only for an IP or localhost endpoint. */
  readonly forcePathStyle?: boolean;
  /** Accepted for the ObjectStore family's open; a bucket is never created (see open()). */
  readonly create: boolean;
}

/**
 * Most S3-compatible servers ignore the region but the SDK refuses to sign without one; AWS
 * itself redirects a request for another region with a clear error.
 */
export const DEFAULT_REGION = "us-east-1";

/**
 * Attempts per request (the first and four retries) in the SDK's standard retry mode, whose
 * backoff is short (jittered, 100 ms doubling): enough to ride out a dropped connection or a
 * 503 SlowDown, while a server that is gone is reported within a second or two. Leaves
 * AWS_MAX_ATTEMPTS and AWS_RETRY_MODE to the SDK when the user set them.
 */
const MAX_ATTEMPTS = 5;

/** Connecting longer than this is a network problem, not a slow server. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A socket idle this long is dead. Idle, not total: a 16 MiB pack on a slow uplink may take
 * minutes to send, and must not be cut off for that.
 */
const IDLE_TIMEOUT_MS = 120_000;

/** The endpoint a request will go to when one is configured, as the SDK reads it from env. */
export function configuredEndpoint(
  options: Pick<S3ObjectStoreOptions, "endpoint">,
  env: NodeJS.ProcessEnv,
): string | undefined {
  return (
    nonEmpty(options.endpoint) ??
    nonEmpty(env.AWS_ENDPOINT_URL_S3) ??
    nonEmpty(env.AWS_ENDPOINT_URL)
  );
}

/**
 * Path-style ("host/bucket/key") when forced, or when the endpoint is an IP address or
 * localhost: virtual-hosted names ("bucket.host") cannot resolve there. Virtual-hosted
 * otherwise, as AWS wants and as MinIO or Garage accept behind a wildcard DNS name.
 */
export function usesPathStyle(
  endpoint: string | undefined,
  forcePathStyle: boolean | undefined,
): boolean {
  if (forcePathStyle === true) return true;
  if (endpoint === undefined) return false;
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return false;
  }
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return (
    isIP(bare) !== 0 || bare === "localhost" || bare.endsWith(".localhost")
  );
}

/**
 * The client configuration. The region is left to the SDK's chain when `sdkFindsRegion` (it
 * found one in AWS_REGION or a profile), so that only a missing region becomes DEFAULT_REGION.
 */
export function s3ClientConfig(
  options: S3ObjectStoreOptions,
  env: NodeJS.ProcessEnv,
  sdkFindsRegion: boolean,
): S3ClientConfig {
  const endpoint = configuredEndpoint(options, env);
  const explicitEndpoint = nonEmpty(options.endpoint);
  const userRetries =
    env.AWS_MAX_ATTEMPTS !== undefined || env.AWS_RETRY_MODE !== undefined;
  return {
    ...(sdkFindsRegion ? {} : { region: DEFAULT_REGION }),
    ...(explicitEndpoint === undefined ? {} : { endpoint: explicitEndpoint }),
    forcePathStyle: usesPathStyle(endpoint, options.forcePathStyle),
    ...(userRetries
      ? {}
      : { retryMode: "standard", maxAttempts: MAX_ATTEMPTS }),
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: IDLE_TIMEOUT_MS,
    },
  };
}

/**
 * The endpoint as messages show it: without a user or password, should the URL carry them.
 */
export function endpointForMessages(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = "";
    url.password = "";
    return url.href.replace(/\/$/, "");
  } catch {
    return endpoint.replace(/\/\/[^/@]*@/, "//");
  }
}

/** The bucket's folder as a key prefix: "" or "a/b/" (never a leading or doubled slash). */
export function keyPrefix(prefix: string): string {
  const segments = prefix.split("/").filter((segment) => segment !== "");
  return segments.length === 0 ? "" : `${segments.join("/")}/`;
}

/** "s3://bucket/prefix", for messages: the location as the user wrote it, no secret in it. */
export function formatS3Where(bucket: string, prefix: string): string {
  return `s3://${bucket}/${keyPrefix(prefix).replace(/\/$/, "")}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
