/**
 * The S3 backend of the ObjectStore: AWS S3 and S3-compatible servers through the official AWS
 * SDK v3, configured by the SDK's standard chain plus --s3-endpoint and --s3-path-style.
 *
 * Importing this file does not load the SDK: openS3ObjectStore() does, on first use. The SDK
 * takes about a second to load on a busy 2-core machine, which no command on a local or ssh
 * repository should pay; import S3ObjectStore itself only where S3 is certain (tests).
 */
import type { ObjectStore } from "../object-store.js";
import type { S3ObjectStoreOptions } from "./s3-config.js";

export type { S3ObjectStore } from "./s3-object-store.js";
export {
  DEFAULT_REGION,
  formatS3Where,
  usesPathStyle,
  type S3ObjectStoreOptions,
} from "./s3-config.js";

/** S3ObjectStore.open(), loading the SDK first (see above). */
export async function openS3ObjectStore(
  options: S3ObjectStoreOptions,
): Promise<ObjectStore> {
  const { S3ObjectStore } = await import("./s3-object-store.js");
  return S3ObjectStore.open(options);
}
