/**
 * Byte paths. Linux names are bytes, not text: a name may hold spaces, newlines, a leading dash
 * or bytes that are not UTF-8, and it must reach the file system unchanged. So the engine keeps
 * paths as Buffers, joins them here, and turns them into text only to show them to a person.
 */

const SLASH = 0x2f;

/** True for a name that is exactly one directory entry: not empty, `.`, `..`, no `/`, no NUL. */
export function isSingleName(name: Uint8Array): boolean {
  if (name.length === 0) return false;
  if (name.length === 1 && name[0] === 0x2e) return false;
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return false;
  return !name.includes(SLASH) && !name.includes(0);
}

/** `dir + "/" + name` as bytes; `dir` is absolute and has no trailing slash unless it is "/". */
export function joinPath(dir: Uint8Array, name: Uint8Array): Buffer {
  if (dir.length > 0 && dir[dir.length - 1] === SLASH)
    return Buffer.concat([dir, name]);
  return Buffer.concat([dir, Buffer.of(SLASH), name]);
}

/** The directory part of a byte path (everything before the last slash). */
export function parentPath(path: Uint8Array): Buffer {
  const buffer = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  const slash = buffer.lastIndexOf(SLASH);
  if (slash <= 0) return Buffer.from("/");
  return Buffer.from(buffer.subarray(0, slash));
}

/**
 * True when `path` is `root` itself or lies below it: `root` is a whole-component prefix and
 * every component after it is a single name (so `root/../x` and `root//x` are not inside).
 */
export function isInside(root: Uint8Array, path: Uint8Array): boolean {
  const rootBuffer = Buffer.from(root.buffer, root.byteOffset, root.byteLength);
  const pathBuffer = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  if (pathBuffer.equals(rootBuffer)) return true;
  if (pathBuffer.length <= rootBuffer.length) return false;
  if (!pathBuffer.subarray(0, rootBuffer.length).equals(rootBuffer))
    return false;
  const rootEndsInSlash = rootBuffer[rootBuffer.length - 1] === SLASH;
  if (!rootEndsInSlash && pathBuffer[rootBuffer.length] !== SLASH) return false;
  let start = rootEndsInSlash ? rootBuffer.length : rootBuffer.length + 1;
  while (start <= pathBuffer.length) {
    let end = pathBuffer.indexOf(SLASH, start);
    if (end < 0) end = pathBuffer.length;
    if (!isSingleName(pathBuffer.subarray(start, end))) return false;
    start = end + 1;
  }
  return true;
}

/** A Map/Set key that stands for a name's bytes one to one (latin1 maps each byte to a char). */
export function nameKey(name: Uint8Array): string {
  return Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString(
    "latin1",
  );
}

const ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  '"': '\\"',
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/**
 * A byte name or path as safe, single-line text for messages: valid UTF-8 is shown as it is,
 * while every byte that is not valid UTF-8, every control character, backslash and double quote
 * is escaped (`\xff`, `\n`, `\\`, `\"`), so a hostile name can neither forge a line of output
 * nor send terminal escape sequences, and two different names never display the same.
 */
export function displayBytes(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = "";
  let index = 0;
  while (index < buffer.length) {
    const length = utf8SequenceLength(buffer, index);
    if (length === 0) {
      out += `\\x${(buffer[index] ?? 0).toString(16).padStart(2, "0")}`;
      index += 1;
      continue;
    }
    const char = buffer.toString("utf8", index, index + length);
    const code = char.codePointAt(0) ?? 0;
    const escaped = ESCAPES[char];
    if (escaped !== undefined) out += escaped;
    else if (
      code < 0x20 ||
      (code >= 0x7f && code < 0xa0) ||
      code === 0x2028 ||
      code === 0x2029
    ) {
      out +=
        code < 0x100
          ? `\\x${code.toString(16).padStart(2, "0")}`
          : `\\u${code.toString(16)}`;
    } else out += char;
    index += length;
  }
  return out;
}

/** Joins relative name components with "/" for display, escaped as displayBytes does. */
export function displayRelative(parts: readonly Uint8Array[]): string {
  return parts.length === 0 ? "." : parts.map(displayBytes).join("/");
}

/** Length of the well-formed UTF-8 sequence at `index`, or 0 when the byte starts none. */
function utf8SequenceLength(buffer: Buffer, index: number): number {
  const first = buffer[index] ?? 0;
  if (first < 0x80) return 1;
  let length: number;
  let min: number;
  let max = 0xbf;
  if (first >= 0xc2 && first <= 0xdf) {
    length = 2;
    min = 0x80;
  } else if (first >= 0xe0 && first <= 0xef) {
    length = 3;
    // Overlong forms (E0 80..9F) and surrogates (ED A0..BF) are not well-formed.
    min = first === 0xe0 ? 0xa0 : 0x80;
    if (first === 0xed) max = 0x9f;
  } else if (first >= 0xf0 && first <= 0xf4) {
    length = 4;
    min = first === 0xf0 ? 0x90 : 0x80;
    if (first === 0xf4) max = 0x8f;
  } else return 0;
  if (index + length > buffer.length) return 0;
  const second = buffer[index + 1] ?? 0;
  if (second < min || second > max) return 0;
  for (let offset = 2; offset < length; offset++) {
    const next = buffer[index + offset] ?? 0;
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return length;
}
