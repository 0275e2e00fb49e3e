/** Human-readable numbers for output. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** "1 file", "2 files"; `nouns` for the plurals English does not make with an s. */
export function plural(
  count: number,
  noun: string,
  nouns = `${noun}s`,
): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${value} B`
    : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit] ?? ""}`;
}

/** A name as bytes, shown with non-printable and non-UTF-8 bytes escaped (never raw control bytes). */
export function displayPath(path: Uint8Array): string {
  const text = Buffer.from(path).toString("utf8");
  const roundTrips = Buffer.from(text, "utf8").equals(path);
  let shown = "";
  if (roundTrips) {
    for (const character of text) {
      const code = character.codePointAt(0) ?? 0;
      shown +=
        code < 0x20 || code === 0x7f
          ? `\\x${code.toString(16).padStart(2, "0")}`
          : character;
    }
    return shown;
  }
  for (const byte of path) {
    shown +=
      byte < 0x20 || byte >= 0x7f || byte === 0x5c
        ? `\\x${byte.toString(16).padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return shown;
}
