/**
 * The SDK client, apart from s3-config.ts so that the configuration can be read and tested
 * without loading the SDK (about a second of startup on a loaded machine; see index.ts).
 */
import { S3Client } from "@aws-sdk/client-s3";
import { s3ClientConfig, type S3ObjectStoreOptions } from "./s3-config.js";

/** The SDK's client with its own region, or DEFAULT_REGION when it found none. */
export async function createS3Client(
  options: S3ObjectStoreOptions,
): Promise<S3Client> {
  const client = new S3Client(s3ClientConfig(options, process.env, true));
  try {
    await client.config.region();
    return client;
  } catch {
    client.destroy();
    return new S3Client(s3ClientConfig(options, process.env, false));
  }
}
