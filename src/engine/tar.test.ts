import { describe, expect, it } from "vitest";
import { entryHeaders, TarWriter, type TarEntry } from "./tar.js";

const FILE: TarEntry = {
  path: Buffer.from("a.txt"),
  type: "file",
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  mtimeNs: 1_700_000_000_000_000_000n,
  size: 3,
};

/** The pax records of a header sequence that starts with one ("" when it does not). */
function paxBody(headers: Buffer): string {
  if (String.fromCharCode(headers[156]!) !== "x") return "";
  const size = parseInt(headers.subarray(124, 135).toString("ascii"), 8);
  return headers.subarray(512, 512 + size).toString("latin1");
}

describe("entryHeaders()", () => {
  it("is one ustar block with a valid checksum when every field fits", () => {
    const headers = entryHeaders(FILE);
    expect(headers.length).toBe(512);
    expect(headers.subarray(257, 265).toString("latin1")).toBe("ustar\x0000");
    const stored = parseInt(headers.subarray(148, 154).toString("ascii"), 8);
    const copy = Buffer.from(headers);
    copy.fill(0x20, 148, 156);
    expect(copy.reduce((sum, byte) => sum + byte, 0)).toBe(stored);
  });

  it("adds pax records for what ustar cannot hold, each length counting itself", () => {
    const body = paxBody(
      entryHeaders({
        ...FILE,
        path: Buffer.from(`${"d".repeat(120)}/x`),
        uid: 3_000_000,
        mtimeNs: -1_500_000_000n,
        size: 9 * 2 ** 30,
      }),
    );
    const records = body.split("\n").filter((line) => line !== "");
    expect(records.map((record) => record.replace(/^\d+ /, ""))).toEqual([
      `path=${"d".repeat(120)}/x`,
      `size=${9 * 2 ** 30}`,
      "uid=3000000",
      "mtime=-1.5",
    ]);
    for (const record of records)
      expect(Number(record.split(" ")[0])).toBe(record.length + 1);
  });

  it("marks a pax path that is not UTF-8 as binary, and keeps nanoseconds", () => {
    const body = paxBody(
      entryHeaders({
        ...FILE,
        path: Buffer.concat([
          Buffer.from("x".repeat(100)),
          Buffer.from([0xff]),
        ]),
        mtimeNs: 1_600_000_000_000_000_001n,
      }),
    );
    expect(body).toContain("hdrcharset=BINARY\n");
    expect(body).toContain("mtime=1600000000.000000001\n");
  });
});

describe("TarWriter", () => {
  it("pads content to whole blocks, ends with two zero blocks, and refuses a short entry", async () => {
    const chunks: Uint8Array[] = [];
    const tar = new TarWriter((chunk) => {
      chunks.push(chunk);
      return Promise.resolve();
    });
    await tar.add(FILE);
    await expect(tar.add(FILE)).rejects.toThrow(RangeError);
    await tar.content(Buffer.from("abc"));
    await tar.finish();
    const archive = Buffer.concat(chunks);
    expect(archive.length).toBe(512 * 4);
    expect(archive.subarray(512, 515).toString()).toBe("abc");
    expect(archive.subarray(515).every((byte) => byte === 0)).toBe(true);
  });
});
