/**
 * The S3 backend of the ObjectStore: AWS S3 and S3-compatible servers through the official AWS
 * SDK v3, configured by the SDK's standard chain plus --s3-endpoint and --s3-path-style.
 */
export { S3ObjectStore } from "./s3-object-store.js";
export {
  DEFAULT_REGION,
  formatS3Where,
  usesPathStyle,
  type S3ObjectStoreOptions,
} from "./s3-config.js";
