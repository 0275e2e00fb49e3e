import { describe, expect, it } from "vitest";
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
