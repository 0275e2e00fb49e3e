import { lstatSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeFifoSync } from "./make-fifo.js";
import { native } from "./native.js";

const dir = mkdtempSync(join(tmpdir(), "blindsync-fifo-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("makeFifoSync()", () => {
  it("uses the native addon that npm ci builds", () => {
    expect(native?.makeFifo).toBeTypeOf("function");
  });

  it("makes a named pipe at a byte path that is not UTF-8, with the mode asked for", () => {
    const path = Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.of(0xe9)]);
    makeFifoSync(path, 0o600);
    const stat = lstatSync(path);
    expect(stat.isFIFO()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
  });

  it("fails as mkfifo(3) does where something is in the way", () => {
    const path = Buffer.from(join(dir, "taken"));
    makeFifoSync(path, 0o600);
    expect(() => {
      makeFifoSync(path, 0o600);
    }).toThrow(expect.objectContaining({ code: "EEXIST" }));
  });
});
