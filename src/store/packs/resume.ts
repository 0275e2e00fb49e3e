/**
 * Reading a pack's trailer from storage: one ranged get of the pack's tail (a guess large
 * enough for most trailers), and a second only when the footer says the trailer is longer.
 */
import type { ObjectInfo } from "../objects/index.js";
import type { WriterContext } from "./writer.js";
import {
  FOOTER_LENGTH,
  parsePackTail,
  tailLength,
  type PackContents,
} from "./trailer.js";

/** Enough for the trailer of a pack of about 1500 blobs. */
const TAIL_GUESS = 64 * 1024;

export async function readTrailer(
  context: Pick<WriterContext, "objects" | "authenticator">,
  pack: ObjectInfo,
): Promise<PackContents> {
  const what = `Pack ${pack.name}`;
  const guess = Math.min(pack.size, TAIL_GUESS);
  let tail = await context.objects.get(pack.name, {
    offset: pack.size - guess,
    length: guess,
  });
  if (tail.length >= FOOTER_LENGTH) {
    const needed = tailLength(
      tail.subarray(tail.length - FOOTER_LENGTH),
      pack.size,
      what,
    );
    if (needed > tail.length)
      tail = await context.objects.get(pack.name, {
        offset: pack.size - needed,
        length: needed,
      });
  }
  return parsePackTail(tail, pack.size, context.authenticator, what);
}
