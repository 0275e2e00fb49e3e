/**
 * From what the AWS SDK throws to a BlindsyncError a user can act on. The SDK's errors carry the
 * S3 error code as `name` and the HTTP status in `$metadata`; network failures are Node's
 * errors with a `code`. Messages name the bucket and the endpoint, never a credential.
 */
import { BlindsyncError, describeError } from "../../../errors.js";

/** Where a failed request went, for the message. */
export interface S3Target {
  /** "s3://bucket/prefix" */
  readonly where: string;
  readonly bucket: string;
  /** The endpoint as configured, or a description of the SDK's default. */
  readonly endpoint: string;
}

const CREDENTIALS_HINT =
  "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE for a profile in ~/.aws/credentials), and check that they may use this bucket";

/** S3 error codes that mean the credentials were refused or lack a permission. */
const REFUSED = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "AllAccessDisabled",
]);

/** AWS's answers to a request signed for another region than the bucket's. */
const WRONG_REGION = new Set([
  "PermanentRedirect",
  "AuthorizationHeaderMalformed",
  "IllegalLocationConstraintException",
]);

/** Node's and the SDK's names for a connection that failed, broke off or timed out. */
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "TimeoutError",
]);

/** S3's answers for a server that is busy or failing, worth another try later. */
const UNAVAILABLE = new Set([
  "RequestTimeout",
  "RequestTimeoutException",
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
]);

interface SdkErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** The S3 error code (or Node's network code) and the HTTP status, when the error has them. */
export function s3ErrorCode(error: unknown): {
  code: string | undefined;
  status: number | undefined;
} {
  if (typeof error !== "object" || error === null)
    return { code: undefined, status: undefined };
  const shape = error as SdkErrorShape;
  const status = shape.$metadata?.httpStatusCode;
  const code =
    typeof shape.code === "string"
      ? shape.code
      : typeof shape.name === "string"
        ? shape.name
        : undefined;
  return { code, status: typeof status === "number" ? status : undefined };
}

/** A missing object: GetObject answers NoSuchKey, HeadObject a bare 404. */
export function isMissingObject(error: unknown): boolean {
  const { code, status } = s3ErrorCode(error);
  return code === "NoSuchKey" || (code === "NotFound" && status === 404);
}

/**
 * The BlindsyncError for a failed request. `doing` says what was attempted ("reading
 * index/ab"). A missing object is handled by the caller, since only it knows whether absence
 * is an answer (stat, delete) or an error (get).
 */
export function s3Failure(
  error: unknown,
  target: S3Target,
  doing: string,
): BlindsyncError {
  if (error instanceof BlindsyncError) return error;
  const { code, status } = s3ErrorCode(error);
  const detail = oneLine(describeError(error));
  if (code === "NoSuchBucket") return noBucket(target, error);
  if (code === "CredentialsProviderError")
    return new BlindsyncError(
      "failed",
      `No S3 credentials found for ${target.where}`,
      { hint: CREDENTIALS_HINT, cause: error },
    );
  if ((code !== undefined && REFUSED.has(code)) || status === 403)
    return new BlindsyncError(
      "failed",
      `S3 refused ${doing} ${target.where} at ${target.endpoint}: ${described(code, status, detail)}`,
      { hint: CREDENTIALS_HINT, cause: error },
    );
  if (code !== undefined && NETWORK.has(code))
    return new BlindsyncError(
      "transient",
      `Cannot reach S3 at ${target.endpoint} while ${doing} ${target.where}: ${detail}`,
      {
        hint: "Check the endpoint (--s3-endpoint or AWS_ENDPOINT_URL) and the network, then run the command again",
        cause: error,
      },
    );
  if (
    (code !== undefined && UNAVAILABLE.has(code)) ||
    (status !== undefined && status >= 500)
  )
    return new BlindsyncError(
      "transient",
      `S3 at ${target.endpoint} is unavailable for ${doing} ${target.where}: ${described(code, status, detail)}`,
      { hint: "Run the command again later", cause: error },
    );
  if (
    (code !== undefined && WRONG_REGION.has(code)) ||
    status === 301 ||
    status === 307
  )
    return new BlindsyncError(
      "failed",
      `S3 sent ${doing} ${target.where} elsewhere: ${described(code, status, detail)}`,
      {
        hint: "The bucket is in another region: set AWS_REGION (or region in your AWS profile) to the bucket's region",
        cause: error,
      },
    );
  return new BlindsyncError(
    "failed",
    `S3 failed ${doing} ${target.where} at ${target.endpoint}: ${described(code, status, detail)}`,
    { cause: error },
  );
}

/** The bucket does not exist: never created silently, since a typo would start a new one. */
export function noBucket(target: S3Target, cause?: unknown): BlindsyncError {
  return new BlindsyncError(
    "no-repository",
    `No S3 bucket "${target.bucket}" at ${target.endpoint}`,
    {
      hint: `blindsync does not create buckets: create "${target.bucket}" with your provider's tools (for example \`aws s3 mb s3://${target.bucket}\`), or check the bucket name, the endpoint and the region`,
      cause,
    },
  );
}

/**
 * "InvalidAccessKeyId (403): The AWS Access Key Id you provided does not exist", or "HTTP 403"
 * for an answer without a body (HEAD requests), whose code the SDK calls Unknown.
 */
function described(
  code: string | undefined,
  status: number | undefined,
  detail: string,
): string {
  const known = code !== undefined && !/^Unknown/.test(code);
  const head = known
    ? `${code}${status === undefined ? "" : ` (HTTP ${status})`}`
    : `HTTP ${status ?? "error"}`;
  return detail === "" || detail === code || /^Unknown/.test(detail)
    ? head
    : `${head}: ${detail}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
