import { describe, expect, it, vi } from "vitest";
import {
  endWhenReaderGone,
  OutputClosed,
  streamOutput,
  type Stream,
} from "./output.js";

/** A stand-in for process.stdout whose reader goes away after `accepted` writes. */
function closingStream(accepted: number): Stream & { written: string[] } {
  const written: string[] = [];
  return {
    written,
    write(chunk, callback) {
      if (written.length >= accepted) {
        const error = Object.assign(new Error("write EPIPE"), {
          code: "EPIPE",
        });
        callback?.(error);
        return false;
      }
      written.push(
        typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(),
      );
      callback?.(null);
      return true;
    },
  };
}

const flags = { json: false, quiet: false, verbose: false };

describe("streamOutput()", () => {
  it("escapes control characters in lines and warnings, and writes bytes raw", async () => {
    const stdout = closingStream(10);
    const stderr = closingStream(10);
    const output = streamOutput(stdout, stderr, flags);
    output.line("tag \x1b]0;x\x07");
    output.warn("name \u009b2J\nsecond line");
    await output.write(Buffer.from("raw \x1b[31m"));
    expect(stdout.written).toEqual(["tag \\x1b]0;x\\x07\n", "raw \x1b[31m"]);
    expect(stderr.written).toEqual(["warning: name \\x9b2J\nsecond line\n"]);
  });

  it("after the reader has gone, printing is a quiet no-op and bytes resolve", async () => {
    const stdout = closingStream(1);
    const output = streamOutput(stdout, closingStream(10), flags);
    output.line("one");
    output.line("two");
    expect(output.readerGone).toBe(true);
    output.line("three");
    output.jsonLine({ four: 4 });
    await output.write(Buffer.from("five"));
    expect(stdout.written).toEqual(["one\n"]);
  });

  it("endWhenReaderGone() throws OutputClosed at the first print after the reader went", async () => {
    const output = endWhenReaderGone(
      streamOutput(closingStream(1), closingStream(10), flags),
    );
    output.line("one");
    output.line("two");
    expect(() => {
      output.line("three");
    }).toThrow(OutputClosed);
    await expect(output.write(Buffer.from("x"))).rejects.toBeInstanceOf(
      OutputClosed,
    );
  });

  it("a write error that is not a gone reader rejects a byte write", async () => {
    const stdout: Stream = {
      write(_chunk, callback) {
        callback?.(
          Object.assign(new Error("no space left"), { code: "ENOSPC" }),
        );
        return false;
      },
    };
    const output = streamOutput(stdout, closingStream(10), flags);
    await expect(output.write(Buffer.from("x"))).rejects.toThrow(
      /Cannot write the output: no space left/,
    );
  });
});

describe("status lines", () => {
  /** A stand-in for a terminal's stderr, 40 columns wide. */
  const terminal = () =>
    Object.assign(closingStream(100), { isTTY: true, columns: 40 });

  it("on a terminal are drawn in place at once, then at most every 250 ms, the latest when due", () => {
    vi.useFakeTimers();
    try {
      const stderr = terminal();
      const output = streamOutput(closingStream(10), stderr, flags);
      expect(output.showsStatus).toBe(true);
      output.status("one");
      output.status("two");
      output.status((columns) => `three in ${columns} columns`);
      expect(stderr.written).toEqual(["\r\x1b[2Kone"]);
      vi.advanceTimersByTime(249);
      expect(stderr.written).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(stderr.written).toEqual([
        "\r\x1b[2Kone",
        "\r\x1b[2Kthree in 39 columns",
      ]);
      output.status("four");
      output.endStatus();
      vi.advanceTimersByTime(1000);
      // Cleared, and the pending "four" never drawn after the end.
      expect(stderr.written.slice(2)).toEqual(["\r\x1b[2K"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("made by a function, are redrawn every 250 ms until endStatus()", () => {
    vi.useFakeTimers();
    try {
      const stderr = terminal();
      const output = streamOutput(closingStream(10), stderr, flags);
      let ticks = 0;
      output.status(() => `tick ${String(++ticks)}`);
      vi.advanceTimersByTime(500);
      expect(stderr.written).toEqual([
        "\r\x1b[2Ktick 1",
        "\r\x1b[2Ktick 2",
        "\r\x1b[2Ktick 3",
      ]);
      output.endStatus();
      vi.advanceTimersByTime(1000);
      expect(stderr.written.slice(3)).toEqual(["\r\x1b[2K"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("are cut to the terminal's width and have control characters escaped", () => {
    const stderr = terminal();
    streamOutput(closingStream(10), stderr, flags).status(
      `name\x1b]0;x\x07 ${"x".repeat(60)}`,
    );
    expect(stderr.written[0]).toBe(
      `\r\x1b[2Kname\\x1b]0;x\\x07 ${"x".repeat(39 - 17)}`,
    );
  });

  it("draw nothing when stderr is no terminal, or with -q or --json", () => {
    for (const [stderr, flagsHere] of [
      [closingStream(10), flags],
      [terminal(), { ...flags, quiet: true }],
      [terminal(), { ...flags, json: true }],
    ] as const) {
      const output = streamOutput(closingStream(10), stderr, flagsHere);
      expect(output.showsStatus).toBe(false);
      output.status("progress");
      output.endStatus();
      expect(stderr.written).toEqual([]);
    }
  });
});
