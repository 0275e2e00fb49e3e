/**
 * What an object name may be, the same on every backend: one or more segments joined by "/",
 * each of 1 to 128 characters from [A-Za-z0-9_.-], not starting with "." (the directory and
 * sftp backends write temporary files under dot names, which are then never listed). Every
 * backend can store such names as they are: no escaping, no case folding issues on S3, no
 * shell or path tricks on a directory or an sftp server.
 */

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const MAX_SEGMENTS = 8;

/** Whether `name` is a valid object name. */
export function isObjectName(name: string): boolean {
  const segments = name.split("/");
  return (
    segments.length <= MAX_SEGMENTS &&
    segments.every((segment) => SEGMENT.test(segment))
  );
}

/** Throws RangeError unless `name` is a valid object name. */
export function checkObjectName(name: string): void {
  if (!isObjectName(name))
    throw new RangeError(`Not a valid object name: ${JSON.stringify(name)}`);
}

/**
 * Throws RangeError unless `prefix` is "" or a valid name, optionally ending in "/" (a folder),
 * or the start of one.
 */
export function checkObjectPrefix(prefix: string): void {
  if (prefix === "") return;
  const trimmed = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  if (!isObjectName(trimmed))
    throw new RangeError(
      `Not a valid object prefix: ${JSON.stringify(prefix)}`,
    );
}
