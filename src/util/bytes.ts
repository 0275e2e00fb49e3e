/** Small byte helpers shared by every layer. Shared leaf: imports nothing from any layer. */

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(
    "hex",
  );
}

export function fromHex(hex: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex))
    throw new SyntaxError(`Not a hex string: "${hex}"`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A buffer of its own (never a slice of Node's shared pool, so it can be transferred to another
 * thread) and not zero-filled: for callers that write every byte.
 */
export function uninitializedBytes(length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

const zeroBlock = new Uint8Array(64 * 1024);

/**
 * True when every byte is zero; compared a block at a time with memcmp (Buffer.equals), where a
 * loop over the bytes in JavaScript cost about 0.1 ms per MiB blob's padding.
 */
export function isZeroFilled(bytes: Uint8Array): boolean {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let start = 0; start < view.length; start += zeroBlock.length) {
    const end = Math.min(view.length, start + zeroBlock.length);
    if (!view.subarray(start, end).equals(zeroBlock.subarray(0, end - start)))
      return false;
  }
  return true;
}
