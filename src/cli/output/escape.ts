/**
 * Text from a repository (host names, tags, paths, a server's messages) is written by whoever
 * could write to the repository or run the server, so it must never reach a terminal as
 * control sequences: ESC starts CSI and OSC sequences (retitle the window, rewrite the
 * screen, plant a hyperlink or a clipboard write), a lone CR or BS overwrites what was
 * shown, C1 codes are the same sequences in one byte for terminals that honour them, and the
 * Unicode bidi controls reorder what the reader sees (the "Trojan Source" trick). Every
 * printer in output/ passes its text through here, so a command cannot forget to.
 */

/** C0 (with tab and newline), DEL, C1, the bidi marks, embeddings, overrides and isolates, and U+2028/2029. */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;
/** The same, but tab and newline stay: for messages that we write over several lines. */
const UNSAFE_KEEP_LINES =
  // eslint-disable-next-line no-control-regex -- as above
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

function shown(character: string): string {
  const code = character.codePointAt(0) ?? 0;
  // \xNN as displayPath() already writes unprintable bytes; \u{...} beyond one byte.
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u{${code.toString(16)}}`;
}

/** `text` for a terminal: every control character escaped, newlines and tabs too. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, shown);
}

/** `text` for a terminal, keeping its own newlines and tabs (error messages, warnings). */
export function escapeControlsKeepLines(text: string): string {
  return text.replace(UNSAFE_KEEP_LINES, shown);
}

/**
 * What JSON.stringify leaves raw (DEL, C1, the bidi controls, U+2028/2029), written as \uXXXX
 * escapes: the same JSON value, so a parser reads exactly what was stored, but nothing a
 * terminal acts on when a person looks at the JSON. Such characters can only stand inside
 * JSON strings, so replacing them in the serialized text is safe.
 */
const JSON_UNSAFE =
  /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

export function escapeJsonText(json: string): string {
  return json.replace(
    JSON_UNSAFE,
    (character) =>
      `\\u${(character.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
}
