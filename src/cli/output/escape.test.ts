import { describe, expect, it } from "vitest";
import {
  escapeControls,
  escapeControlsKeepLines,
  escapeJsonText,
} from "./escape.js";

describe("escapeControls()", () => {
  it.each([
    ["plain text, ünïcödé and 日本語", "plain text, ünïcödé and 日本語"],
    ["\x1b]0;title\x07", "\\x1b]0;title\\x07"],
    ["\x1b[2J", "\\x1b[2J"],
    ["a\rb\bc\x7f", "a\\x0db\\x08c\\x7f"],
    ["tab\tnew\nline", "tab\\x09new\\x0aline"],
    ["c1 \u009b2J \u0085", "c1 \\x9b2J \\x85"],
    [
      "txt\u202eexe \u2066x\u2069 \u200f",
      "txt\\u{202e}exe \\u{2066}x\\u{2069} \\u{200f}",
    ],
  ])("escapeControls(%j) is %j", (text, shown) => {
    expect(escapeControls(text)).toBe(shown);
  });

  it("escapeControlsKeepLines() keeps newlines and tabs and escapes the rest", () => {
    expect(escapeControlsKeepLines("one\n\ttwo \x1b[31m\u009b")).toBe(
      "one\n\ttwo \\x1b[31m\\x9b",
    );
  });
});

describe("escapeJsonText()", () => {
  it("writes DEL, C1 and bidi controls as \\u escapes: the parsed value is unchanged", () => {
    const value = { host: "a\x1b]0;t\x07\u009b\u202e\x7f\u2028z", n: 1 };
    const text = escapeJsonText(JSON.stringify(value));
    expect(text).not.toMatch(/[\u007f-\u009f\u202e\u2028]/u);
    expect(text).toContain("\\u009b");
    expect(JSON.parse(text)).toEqual(value);
  });
});
