#!/usr/bin/env node
// Runs s3rver for test/helpers/s3rver.ts in a process of its own (s3rver 3 needs
// NODE_OPTIONS=--openssl-legacy-provider on Node 20, which the test process must not get):
// `s3rver-process.js DIRECTORY BUCKET` listens on 127.0.0.1 on a free port, creates BUCKET,
// prints {"port": N} on one line, and exits when its stdin closes, so it never outlives the
// test process, however that ends.
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Buffer } from "node:buffer";
import process from "node:process";
import { pipeline } from "node:stream/promises";
import S3rver from "s3rver";
import S3Object from "s3rver/lib/models/object.js";
import FilesystemStore from "s3rver/lib/stores/filesystem.js";

// S3 makes a PUT atomic: a reader gets the old object or the whole new one. s3rver 3.7.1
// truncates the object's file and writes it in place, and serves a GET from a size it read
// before opening the file, so a reader racing a writer gets torn bytes that no real S3 serves.
// These two replacements give it S3's guarantee (the conformance suite checks the client's side
// of it): a PUT writes a temporary file (its name lacks s3rver's object suffix, so listings skip
// it) and renames it over the object; a GET opens the file first and takes its size from that
// open file. Its metadata (the JSON beside the object, read by every GET and every listing)
// is written the same way, so a kill mid-write cannot leave a torn JSON that s3rver answers
// 500 for, on that key and on every listing that reaches it. Everything else is s3rver's own
// code.
FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, "object");
  await mkdir(dirname(objectPath), { recursive: true });
  const temporary = `${objectPath}.${randomUUID()}.partial`;
  const md5 = createHash("md5");
  let size = 0;
  try {
    await pipeline(
      Buffer.isBuffer(object.content) ? [object.content] : object.content,
      async function* (chunks) {
        for await (const chunk of chunks) {
          md5.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(temporary),
    );
    await rename(temporary, objectPath);
  } finally {
    await rm(temporary, { force: true });
  }
  const digest = md5.digest("hex");
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

/** Writes `text` to `path` whole or not at all: a temporary name, then a rename. */
async function replaceFile(path, text) {
  const temporary = `${path}.${randomUUID()}.partial`;
  try {
    await writeFile(temporary, text);
    await rename(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
}

FilesystemStore.prototype.putMetadata = async function putMetadata(
  bucket,
  key,
  metadata,
  md5,
) {
  const json = Object.fromEntries(
    Object.entries(metadata).filter(
      ([name]) =>
        S3Object.ALLOWED_METADATA.includes(name) ||
        name.startsWith("x-amz-meta-"),
    ),
  );
  if (md5)
    await replaceFile(this.getResourcePath(bucket, key, "object.md5"), md5);
  await replaceFile(
    this.getResourcePath(bucket, key, "metadata.json"),
    JSON.stringify(json, null, 2),
  );
};

FilesystemStore.prototype.getObject = async function getObject(
  bucket,
  key,
  options,
) {
  let handle;
  try {
    handle = await open(this.getResourcePath(bucket, key, "object"), "r");
  } catch (error) {
    if (error.code === "ENOENT") return null;
    throw error;
  }
  let metadata;
  try {
    metadata = await this.getMetadata(bucket, key);
    metadata["content-length"] = (await handle.stat()).size;
  } catch (error) {
    await handle.close();
    if (error.code === "ENOENT") return null;
    throw error;
  }
  const lastByte = Math.max(0, metadata["content-length"] - 1);
  const ranged = options && (options.start !== undefined || options.end);
  const range = {
    start: (options && options.start) || 0,
    end: Math.min((options && options.end) || Infinity, lastByte),
  };
  const satisfiable = range.start >= 0 && range.end >= range.start;
  if (!satisfiable) await handle.close();
  const content = satisfiable ? handle.createReadStream(range) : null;
  const result = new S3Object(bucket, key, content, metadata);
  if (ranged) result.range = range;
  return result;
};

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
