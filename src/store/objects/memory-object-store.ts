/**
 * An ObjectStore in memory: the reference the conformance suite checks itself against, and a
 * fast floor for the pack store's unit tests. Not for users.
 */
import { BlindsyncError } from "../../errors.js";
import { checkObjectName, checkObjectPrefix } from "./names.js";
import type { ByteRange, ObjectInfo, ObjectStore } from "./object-store.js";

export class MemoryObjectStore implements ObjectStore {
  readonly where = "memory";
  private readonly objects = new Map<string, Uint8Array>();
  private closed = false;

  put(name: string, bytes: Uint8Array): Promise<void> {
    return this.#run(() => {
      checkObjectName(name);
      this.objects.set(name, new Uint8Array(bytes));
    });
  }

  get(name: string, range?: ByteRange): Promise<Uint8Array> {
    return this.#run(() => {
      checkObjectName(name);
      const bytes = this.objects.get(name);
      if (bytes === undefined) throw objectNotFound(this.where, name);
      if (range === undefined) return new Uint8Array(bytes);
      checkRange(this.where, name, range, bytes.length);
      return bytes.slice(range.offset, range.offset + range.length);
    });
  }

  stat(name: string): Promise<ObjectInfo | undefined> {
    return this.#run(() => {
      checkObjectName(name);
      const bytes = this.objects.get(name);
      return bytes === undefined ? undefined : { name, size: bytes.length };
    });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const matching = await this.#run(() => {
      checkObjectPrefix(prefix);
      return [...this.objects]
        .filter(([name]) => name.startsWith(prefix))
        .map(([name, bytes]) => ({ name, size: bytes.length }));
    });
    yield* matching;
  }

  delete(name: string): Promise<void> {
    return this.#run(() => {
      checkObjectName(name);
      this.objects.delete(name);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async only to reject, not throw
  async #run<T>(action: () => T): Promise<T> {
    if (this.closed) throw new Error("MemoryObjectStore used after close");
    return action();
  }
}

/** The error every backend throws for an object that does not exist. */
export function objectNotFound(where: string, name: string): BlindsyncError {
  return new BlindsyncError("not-found", `No object ${name} in ${where}`);
}

/**
 * Throws RangeError for a range that is not whole non-negative numbers, and
 * BlindsyncError('integrity') for one past the object's end (`size`).
 */
export function checkRange(
  where: string,
  name: string,
  range: ByteRange,
  size: number,
): void {
  if (
    !Number.isSafeInteger(range.offset) ||
    !Number.isSafeInteger(range.length) ||
    range.offset < 0 ||
    range.length < 0
  )
    throw new RangeError(`Not a valid byte range: ${JSON.stringify(range)}`);
  if (range.offset + range.length > size)
    throw new BlindsyncError(
      "integrity",
      `Object ${name} in ${where} is ${size} bytes, shorter than the ${range.length} bytes at offset ${range.offset} asked for`,
    );
}
