/**
 * T15: fingerprinting regression. The same file (16 MiB in CI, 100 MiB in the long run) is backed
 * up into two repositories with the default chunker parameters. Because the chunker's gear table
 * is derived from each repository's secret, the cut points differ (at most 5 % in common, as
 * research/security.md T15 asks), so chunk lengths seen by one server say nothing about how
 * another repository cuts the same file. And every stored blob, of every kind, has a length
 * 40 + 16 + PADME(n): the server sees a padding bucket, never an exact chunk length; for this
 * incompressible file, the stored lengths are exactly the buckets of the chunker's lengths.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkBuffer } from "../../src/chunker/index.js";
import { padmeLength } from "../../src/crypto/index.js";
import { backup } from "../../src/engine/index.js";
import { ClientCache, Repository } from "../../src/repo/index.js";
import { blobHeaderLength } from "../../src/repo/blob-codec.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { count } from "../helpers/counts.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const FILE_BYTES = count(16, 100) * 1024 * 1024;
const TAG = 16;
const INNER_HEADER = 5;

interface Backed {
  readonly cuts: Set<number>;
  readonly chunkLengths: number[];
  readonly stored: { kind: string; length: number }[];
}

let work: string;
let data: Buffer;
const repos: Backed[] = [];

async function backUpInto(name: string, source: string): Promise<Backed> {
  const store = await SqliteStore.open(join(work, name), { create: true });
  const cache = ClientCache.open(join(work, `${name}-cache`), name);
  try {
    const repo = await Repository.create(store, Buffer.from("pw"), {
      scrypt: { logN: 15, r: 8, p: 1 },
    });
    const result = await backup({
      repo,
      cache,
      head: undefined,
      sources: [source],
      sink: { progress: () => undefined, warn: () => undefined },
    });
    expect(result.warnings).toBe(0);
    const chunkLengths = chunkBuffer(repo.gear, repo.config.chunker, data);
    const cuts = new Set<number>();
    let offset = 0;
    for (const length of chunkLengths.slice(0, -1)) {
      offset += length;
      cuts.add(offset);
    }
    const stored: { kind: string; length: number }[] = [];
    for await (const info of store.list())
      stored.push({ kind: info.kind, length: info.length });
    return { cuts, chunkLengths, stored };
  } finally {
    cache.close();
    await store.close();
  }
}

beforeAll(async () => {
  work = await tempDir("blindsync-t15-");
  data = seededBytes(15, FILE_BYTES);
  const source = join(work, "source");
  await mkdir(source);
  await writeFile(join(source, "same.bin"), data);
  repos.push(await backUpInto("one", source), await backUpInto("two", source));
}, 300_000);

afterAll(async () => {
  await removeDir(work);
});

describe(`the same ${FILE_BYTES >> 20} MiB file in two repositories (T15)`, () => {
  it("is cut at different points by each repository's keyed chunker (at most 5 % in common)", () => {
    const [one, two] = repos;
    if (one === undefined || two === undefined) throw new Error("no repos");
    expect(one.cuts.size).toBeGreaterThanOrEqual(FILE_BYTES / (8 << 20));
    expect(two.cuts.size).toBeGreaterThanOrEqual(FILE_BYTES / (8 << 20));
    const common = [...one.cuts].filter((cut) => two.cuts.has(cut)).length;
    expect(common).toBeLessThanOrEqual(
      0.05 * Math.min(one.cuts.size, two.cuts.size),
    );
    expect(one.chunkLengths).not.toEqual(two.chunkLengths);
  });

  it("stores every blob, of every kind, at a PADME bucket length: 40 + 16 + PADME(n)", () => {
    for (const { stored } of repos) {
      expect(stored.length).toBeGreaterThan(2);
      for (const { kind, length } of stored) {
        const padded = length - blobHeaderLength - TAG;
        expect(padded, kind).toBeGreaterThanOrEqual(INNER_HEADER);
        // PADME values are the fixed points of padmeLength.
        expect(padmeLength(padded), `${kind} blob of ${length} bytes`).toBe(
          padded,
        );
      }
    }
  });

  it("shows the server only the buckets of the chunk lengths, never the lengths themselves", () => {
    for (const { stored, chunkLengths } of repos) {
      const dataLengths = stored
        .filter((blob) => blob.kind === "data")
        .map((blob) => blob.length)
        .sort((a, b) => a - b);
      const expected = chunkLengths
        .map(
          (length) =>
            blobHeaderLength + TAG + padmeLength(INNER_HEADER + length),
        )
        .sort((a, b) => a - b);
      expect(dataLengths).toEqual(expected);
      const exact = chunkLengths.filter((length) =>
        dataLengths.includes(blobHeaderLength + TAG + INNER_HEADER + length),
      );
      // Only a chunk whose 5 + length happens to be a bucket already is stored unpadded.
      expect(exact.length).toBeLessThanOrEqual(1);
    }
  });
});
