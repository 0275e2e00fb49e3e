/**
 * The answers s3rver cannot give (throttling, server errors, timeouts, another region, a denied
 * policy), as the SDK shapes them: `name` is the S3 error code, `$metadata` holds the HTTP
 * status, and network failures are Node errors with a `code`. Live errors (a missing bucket,
 * refused and missing credentials, a dead server) are tested on s3rver in
 * test/integration/s3-objects.test.ts.
 */
import { describe, expect, it } from "vitest";
import { BlindsyncError, type ErrorKind } from "../../../errors.js";
import { isMissingObject, s3Failure, type S3Target } from "./s3-errors.js";

const target: S3Target = {
  where: "s3://vault/host",
  bucket: "vault",
  endpoint: "https://s3.example.com",
};

/** An error shaped as the SDK throws one for an S3 error answer. */
function answer(name: string, status: number, message: string): Error {
  return Object.assign(new Error(message), {
    name,
    $metadata: { httpStatusCode: status },
  });
}

/** A Node network error, as the SDK's HTTP handler passes it on. */
function network(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("s3Failure()", () => {
  it.each<[string, Error, ErrorKind, RegExp]>([
    [
      "503 SlowDown",
      answer("SlowDown", 503, "Please reduce your request rate."),
      "transient",
      /S3 at https:\/\/s3\.example\.com is unavailable for writing packs\/ab\/x to s3:\/\/vault\/host: SlowDown \(HTTP 503\): Please reduce your request rate/,
    ],
    [
      "500 InternalError",
      answer("InternalError", 500, "We encountered an internal error."),
      "transient",
      /internal error/,
    ],
    [
      "a 502 from a proxy, with no S3 code",
      answer("Unknown", 502, "UnknownError"),
      "transient",
      /s3:\/\/vault\/host/,
    ],
    [
      "a socket idle past the timeout",
      Object.assign(new Error("socket timed out"), { name: "TimeoutError" }),
      "transient",
      /Cannot reach S3 at https:\/\/s3\.example\.com .*socket timed out/,
    ],
    [
      "a reset connection",
      network("ECONNRESET", "socket hang up"),
      "transient",
      /socket hang up/,
    ],
    [
      "an unknown host",
      network("ENOTFOUND", "getaddrinfo ENOTFOUND s3.example.com"),
      "transient",
      /ENOTFOUND/,
    ],
    [
      "403 AccessDenied (a policy without this permission)",
      answer("AccessDenied", 403, "Access Denied"),
      "failed",
      /S3 refused writing packs\/ab\/x to s3:\/\/vault\/host .*AccessDenied \(HTTP 403\): Access Denied/,
    ],
    [
      "a bare 403 to a HEAD request",
      answer("Unknown", 403, "UnknownError"),
      "failed",
      /: HTTP 403$/,
    ],
    [
      "NoSuchBucket (deleted under a running backup)",
      answer("NoSuchBucket", 404, "The specified bucket does not exist"),
      "no-repository",
      /No S3 bucket "vault" at https:\/\/s3\.example\.com/,
    ],
    [
      "301 PermanentRedirect (another region)",
      answer("PermanentRedirect", 301, "The bucket you are attempting..."),
      "failed",
      /elsewhere: PermanentRedirect/,
    ],
    [
      "400 with a code of its own",
      answer("EntityTooLarge", 400, "Your proposed upload exceeds\nthe limit"),
      "failed",
      /EntityTooLarge \(HTTP 400\): Your proposed upload exceeds the limit$/,
    ],
  ])("%s -> %s", (_, error, kind, message) => {
    const failure = s3Failure(error, target, "writing packs/ab/x to");
    expect(failure).toBeInstanceOf(BlindsyncError);
    expect(failure.kind).toBe(kind);
    expect(failure.message).toMatch(message);
    expect(failure.message).not.toContain("\n");
    expect(failure.cause).toBe(error);
  });

  it("hints at the credentials' variables when refused, at the region when redirected", () => {
    expect(
      s3Failure(answer("InvalidAccessKeyId", 403, "no such key"), target, "x")
        .hint,
    ).toMatch(/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \(or AWS_PROFILE/);
    expect(
      s3Failure(
        answer("AuthorizationHeaderMalformed", 400, "region is wrong"),
        target,
        "x",
      ).hint,
    ).toMatch(/AWS_REGION/);
  });

  it("passes a BlindsyncError through unchanged", () => {
    const own = new BlindsyncError("integrity", "short");
    expect(s3Failure(own, target, "x")).toBe(own);
  });
});

describe("isMissingObject()", () => {
  it("is NoSuchKey, or a bare 404 to a HEAD; not a missing bucket", () => {
    expect(isMissingObject(answer("NoSuchKey", 404, "no key"))).toBe(true);
    expect(isMissingObject(answer("NotFound", 404, "UnknownError"))).toBe(true);
    expect(isMissingObject(answer("NoSuchBucket", 404, "no bucket"))).toBe(
      false,
    );
    expect(isMissingObject(network("ECONNREFUSED", "refused"))).toBe(false);
  });
});
