/**
 * `--exclude-caches`: a directory holding a file CACHEDIR.TAG that begins with the standard's
 * signature (https://bford.info/cachedir/) is a cache whose owner says it need not be backed
 * up (blindsync's own cache root carries one; so do those of many browsers, build tools and
 * package managers). Its contents are skipped, the tag kept, as tar --exclude-caches and
 * restic --exclude-caches do. The walker and the prewalk ask here once per directory whose
 * listing has the name, so a walk without tags opens nothing more.
 */
import { closeSync, constants, openSync, readSync } from "node:fs";
import { joinPath } from "../fs-names.js";
import { CACHE_TAG_NAME, type ExcludeMatcher } from "./excludes.js";
import { packedName, type PackedListing } from "./listing.js";

const SIGNATURE = Buffer.from("Signature: 8a477f597d28d172789f06886806bc55");
const TAG_NAME = Buffer.from(CACHE_TAG_NAME);

/** Whether `path` is a regular file that begins with the signature (a symlink is not). */
export function isValidCacheTag(path: Buffer): boolean {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO under the name must not hang the walk.
    fd = openSync(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(SIGNATURE.length);
    let got = 0;
    while (got < head.length) {
      const read = readSync(fd, head, got, head.length - got, got);
      if (read === 0) break;
      got += read;
    }
    return got === head.length && head.equals(SIGNATURE);
  } catch {
    // A directory or an unreadable file under the name is no tag.
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * The matcher for the directory at `path` (`relative` from the source root) with `listing`:
 * under --exclude-caches, one that keeps only the tag when the directory holds a valid one.
 */
export function scopeCacheTag(
  matcher: ExcludeMatcher,
  path: Buffer,
  relative: string,
  listing: PackedListing,
): ExcludeMatcher {
  if (!matcher.excludeCaches) return matcher;
  for (let index = 0; index < listing.ends.length; index++) {
    if (!packedName(listing, index).equals(TAG_NAME)) continue;
    return isValidCacheTag(joinPath(path, TAG_NAME))
      ? matcher.withCacheTag(relative)
      : matcher;
  }
  return matcher;
}
