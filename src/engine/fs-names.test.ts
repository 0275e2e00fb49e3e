import { describe, expect, it } from "vitest";
import { displayBytes, isInside } from "./fs-names.js";

describe("fs-names", () => {
  it("displayBytes() escapes control characters, quotes and invalid UTF-8, keeps the rest", () => {
    expect(displayBytes(Buffer.from("plain name.txt"))).toBe("plain name.txt");
    expect(displayBytes(Buffer.from("line\nbreak"))).toBe("line\\nbreak");
    expect(displayBytes(Buffer.from('say "hi"\\'))).toBe('say \\"hi\\"\\\\');
    expect(displayBytes(new Uint8Array([0x63, 0xe9, 0x1b, 0x5b]))).toBe(
      "c\\xe9\\x1b[",
    );
    expect(displayBytes(Buffer.from("日本"))).toBe("日本");
    expect(displayBytes(new Uint8Array([0xed, 0xa0, 0x80]))).toBe(
      "\\xed\\xa0\\x80",
    );
  });

  it("isInside() compares whole components", () => {
    expect(isInside(Buffer.from("/a/b"), Buffer.from("/a/b/c"))).toBe(true);
    expect(isInside(Buffer.from("/a/b"), Buffer.from("/a/bc"))).toBe(false);
    expect(isInside(Buffer.from("/a/b"), Buffer.from("/a"))).toBe(false);
    expect(isInside(Buffer.from("/"), Buffer.from("/x"))).toBe(true);
    expect(isInside(Buffer.from("/a/b"), Buffer.from("/a/b/../c"))).toBe(false);
    expect(isInside(Buffer.from("/a/b"), Buffer.from("/a/b//c"))).toBe(false);
    expect(isInside(Buffer.from("/a/b"), Buffer.from("/a/b/c/"))).toBe(false);
  });
});
