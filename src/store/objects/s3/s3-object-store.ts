/**
 * The S3 backend of the ObjectStore, through the official AWS SDK v3, for AWS and the
 * S3-compatible servers (MinIO, Ceph RGW, Garage, Backblaze B2, Wasabi). Object `name` is the
 * key `prefix/name` in the bucket.
 *
 * Relies only on what every S3 gives: a PUT is atomic (readers see the old object or the whole
 * new one), a ranged GET, a paged listing. Not on listing order, read-after-delete or
 * conditional writes, which differ between servers (s3rver, the test stand-in, ignores
 * If-None-Match); and it leaves the SDK's checksums on, although s3rver ignores them.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type GetObjectCommandOutput,
  type S3Client,
} from "@aws-sdk/client-s3";
import { BlindsyncError } from "../../../errors.js";
import { checkRange, objectNotFound } from "../memory-object-store.js";
import { checkObjectName, checkObjectPrefix, isObjectName } from "../names.js";
import type { ByteRange, ObjectInfo, ObjectStore } from "../object-store.js";
import { createS3Client } from "./s3-client.js";
import {
  configuredEndpoint,
  endpointForMessages,
  formatS3Where,
  keyPrefix,
  type S3ObjectStoreOptions,
} from "./s3-config.js";
import {
  isMissingObject,
  noBucket,
  s3ErrorCode,
  s3Failure,
  type S3Target,
} from "./s3-errors.js";

export class S3ObjectStore implements ObjectStore {
  readonly where: string;
  private closed = false;

  private constructor(
    private readonly client: S3Client,
    private readonly target: S3Target,
    /** "" or "folder/": what every key starts with. */
    private readonly keys: string,
    /** Keys per listing page; S3's own maximum (1000) unless a test pages sooner. */
    private readonly pageSize: number | undefined,
  ) {
    this.where = target.where;
  }

  /**
   * Builds the client and checks that the bucket exists. A missing bucket is
   * BlindsyncError('no-repository') even with `create`: buckets carry billing, region and
   * policy choices that are the user's to make, and a typo must not start a new one.
   */
  static async open(
    options: S3ObjectStoreOptions & { readonly listPageSize?: number },
  ): Promise<S3ObjectStore> {
    // The SDK warns on every run under Node 20 that its releases from 2027 need Node 22: news
    // for whoever pins the SDK (docs/dependencies.md), not for someone running a backup.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    const client = await createS3Client(options);
    const where = formatS3Where(options.bucket, options.prefix);
    const endpoint = configuredEndpoint(options, process.env);
    const target: S3Target = {
      where,
      bucket: options.bucket,
      endpoint:
        endpoint === undefined
          ? `AWS (region ${await client.config.region()})`
          : endpointForMessages(endpoint),
    };
    const store = new S3ObjectStore(
      client,
      target,
      keyPrefix(options.prefix),
      options.listPageSize,
    );
    try {
      await client.send(new HeadBucketCommand({ Bucket: options.bucket }));
    } catch (error) {
      client.destroy();
      const { code, status } = s3ErrorCode(error);
      if (status === 404 || code === "NoSuchBucket" || code === "NotFound")
        throw noBucket(target, error);
      throw s3Failure(error, target, "opening");
    }
    return store;
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    const key = this.#key(name);
    await this.#call(`writing ${name} to`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
        }),
      ),
    );
  }

  async get(name: string, range?: ByteRange): Promise<Uint8Array> {
    const key = this.#key(name);
    if (range !== undefined) {
      // Only the shape here (RangeError); the end is checked against the object's size.
      checkRange(this.where, name, range, Number.MAX_SAFE_INTEGER);
      // "bytes=a-(a-1)" cannot be asked for: the size alone answers an empty range.
      if (range.length === 0) {
        checkRange(this.where, name, range, await this.#sizeOf(name));
        return new Uint8Array(0);
      }
    }
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.target.bucket,
          Key: key,
          ...(range === undefined
            ? {}
            : {
                Range: `bytes=${range.offset}-${range.offset + range.length - 1}`,
              }),
        }),
      );
    } catch (error) {
      if (isMissingObject(error)) throw objectNotFound(this.where, name);
      if (range !== undefined && s3ErrorCode(error).code === "InvalidRange") {
        // 416: the range starts at or past the end. Report it with the object's size.
        checkRange(this.where, name, range, await this.#sizeOf(name));
        throw pastEnd(this.where, name, range);
      }
      throw s3Failure(error, this.target, `reading ${name} from`);
    }
    const bytes = await this.#call(
      `reading ${name} from`,
      async () =>
        (await response.Body?.transformToByteArray()) ?? new Uint8Array(0),
    );
    return range === undefined
      ? this.#whole(name, bytes, response.ContentLength)
      : this.#part(name, bytes, range, response.ContentRange);
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    const key = this.#key(name);
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.target.bucket, Key: key }),
      );
      return { name, size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw s3Failure(error, this.target, `reading ${name} in`);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.#usable();
    checkObjectPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.#call(`listing ${prefix || "objects"} in`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.target.bucket,
            Prefix: this.keys + prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
            ...(this.pageSize === undefined ? {} : { MaxKeys: this.pageSize }),
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(this.keys.length);
        // Keys that are no object name (a console's "folder/" marker, another tool's files)
        // are not ours to list.
        if (
          name === undefined ||
          !object.Key?.startsWith(this.keys) ||
          !isObjectName(name)
        )
          continue;
        yield { name, size: object.Size ?? 0 };
      }
      const next = page.IsTruncated === true ? page.NextContinuationToken : "";
      if (next === token)
        throw new BlindsyncError(
          "protocol",
          `S3 at ${this.target.endpoint} repeated a listing page of ${this.where}`,
        );
      token = next === "" ? undefined : next;
    } while (token !== undefined);
  }

  async delete(name: string): Promise<void> {
    const key = this.#key(name);
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.target.bucket, Key: key }),
      );
    } catch (error) {
      // S3 answers 204 for a missing key; some compatible servers answer 404.
      if (isMissingObject(error)) return;
      throw s3Failure(error, this.target, `deleting ${name} from`);
    }
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.client.destroy();
    }
    return Promise.resolve();
  }

  /** The object's key; throws for a closed store or an invalid name before any request. */
  #key(name: string): string {
    this.#usable();
    checkObjectName(name);
    return this.keys + name;
  }

  #usable(): void {
    if (this.closed) throw new Error("S3ObjectStore used after close");
  }

  async #sizeOf(name: string): Promise<number> {
    const info = await this.stat(name);
    if (info === undefined) throw objectNotFound(this.where, name);
    return info.size;
  }

  async #call<T>(doing: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw s3Failure(error, this.target, doing);
    }
  }

  /** A whole object's bytes, unless the connection ended before the length it announced. */
  #whole(name: string, bytes: Uint8Array, announced: number | undefined) {
    if (announced !== undefined && bytes.length !== announced)
      throw new BlindsyncError(
        "transient",
        `Reading ${name} from ${this.where} ended after ${bytes.length} of its ${announced} bytes`,
      );
    return bytes;
  }

  /**
   * The range asked for, from a 206 answer (its Content-Range says where the bytes start and
   * the object's size) or from a server that ignored Range and sent the whole object (200).
   */
  #part(
    name: string,
    bytes: Uint8Array,
    range: ByteRange,
    contentRange: string | undefined,
  ): Uint8Array {
    if (contentRange === undefined) {
      checkRange(this.where, name, range, bytes.length);
      return bytes.slice(range.offset, range.offset + range.length);
    }
    const parsed = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange);
    if (parsed?.[1] === undefined || Number(parsed[1]) !== range.offset)
      throw new BlindsyncError(
        "protocol",
        `S3 at ${this.target.endpoint} answered the range ${contentRange} of ${name} in ${this.where} for bytes ${range.offset}+${range.length}`,
      );
    if (bytes.length === range.length) return bytes;
    const size = parsed[3] === "*" ? undefined : Number(parsed[3]);
    if (size !== undefined && range.offset + range.length <= size)
      throw new BlindsyncError(
        "transient",
        `Reading ${name} from ${this.where} ended after ${bytes.length} of the ${range.length} bytes asked for`,
      );
    // Fewer bytes than asked because the object ends sooner: damage, not a missing object.
    checkRange(this.where, name, range, size ?? range.offset + bytes.length);
    throw pastEnd(this.where, name, range);
  }
}

function pastEnd(where: string, name: string, range: ByteRange) {
  return new BlindsyncError(
    "integrity",
    `Object ${name} in ${where} is shorter than the ${range.length} bytes at offset ${range.offset} asked for`,
  );
}
