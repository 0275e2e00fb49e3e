/**
 * A file shorter than the chunker's minimum size is read as one chunk without a chunker or a
 * streaming hash (the many-small-files route): its ids, checksum and size must be exactly what
 * the chunk stream gives for the same bytes, on both sides of the minimum, and for an empty
 * file.
 */
import { lstatSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClientCache, Repository } from "../../repo/index.js";
import { MemoryStore } from "../../store/index.js";
import { seededBytes } from "../../../test/helpers/prng.js";
import { removeDir, tempDir } from "../../../test/helpers/trees.js";
import { toHex } from "../../util/bytes.js";
import { BlobSaver } from "./blob-saver.js";
import { ChunkStream } from "./chunk-stream.js";
import { identityOf } from "./file-identity.js";
import { FileSaver } from "./file-saver.js";
import { INLINE_FILE_MAX, isInlineSize } from "./inline-files.js";

const PASSWORD = new TextEncoder().encode("file saver test passphrase");
const FAST_KDF = { scrypt: { logN: 15, r: 8, p: 1 } };
const CHUNKER = { minSize: 4096, avgSize: 8192, maxSize: 32768 };

let work: string;
let cache: ClientCache;
let repo: Repository;

beforeEach(async () => {
  work = await tempDir();
  repo = await Repository.create(new MemoryStore(), PASSWORD, {
    ...FAST_KDF,
    chunker: CHUNKER,
  });
  cache = ClientCache.open(join(work, "cache"), "file-saver");
});

afterEach(async () => {
  cache.close();
  await removeDir(work);
});

/** The chunk ids the chunk stream makes of `data`, and the checksum over them backups record. */
function streamed(data: Uint8Array): {
  content: string[];
  checksum: { kind: string; digest: string };
} {
  const stream = new ChunkStream(repo.gear, repo.config.chunker, (view) =>
    repo.blobId(view),
  );
  const ids = stream.push(data).map((chunk) => chunk.id);
  ids.push(...stream.finish().chunks.map((chunk) => chunk.id));
  const checksum = repo.fileChecksum(data.length, ids);
  return {
    content: ids.map(toHex),
    checksum: { kind: "chunk-ids", digest: toHex(checksum.digest) },
  };
}

describe("FileSaver.read() and saveRead()", () => {
  it("reads a file below the chunker's minimum as the one chunk the chunk stream makes of it, and saveRead() of its bytes gives the same", async () => {
    const blobSaver = new BlobSaver(repo, cache);
    const saver = new FileSaver({
      repo,
      cache,
      pool: undefined,
      blobSaver,
      countBytes: () => undefined,
    });
    const sizes = [0, 1, 700, INLINE_FILE_MAX, INLINE_FILE_MAX + 1];
    sizes.push(CHUNKER.minSize - 1, CHUNKER.minSize);
    sizes.push(CHUNKER.minSize + 1, 3 * CHUNKER.maxSize + 5);
    const chunks = new Set<string>();
    for (const [index, size] of sizes.entries()) {
      const data = seededBytes(index + 1, size);
      const path = join(work, `f${index}`);
      writeFileSync(path, data);
      const read = await saver.read(
        Buffer.from(path),
        identityOf(lstatSync(path, { bigint: true })),
      );
      expect(read.size).toBe(size);
      const expected = streamed(data);
      if (!isInlineSize(size))
        for (const id of expected.content) chunks.add(id);
      expect({
        kind: read.checksum.kind,
        digest: toHex(read.checksum.digest),
      }).toEqual(expected.checksum);
      // A file small enough goes inline: no chunk, the checksum of the one it would be.
      if (isInlineSize(size)) {
        expect(read.content).toEqual([]);
        expect(toHex(read.inline!)).toBe(toHex(data));
      } else {
        expect(read.inline).toBeUndefined();
        expect(read.content.map(toHex)).toEqual(expected.content);
      }
      if (size > INLINE_FILE_MAX && size < CHUNKER.minSize)
        expect(read.content).toHaveLength(1);
      // The batched route (bytes read by SmallFileBatches) makes the very same record.
      const saved = await saver.saveRead(
        { data: Buffer.from(data), digest: undefined },
        isInlineSize(size),
      );
      expect(saved.size).toBe(size);
      expect(saved.content.map(toHex)).toEqual(read.content.map(toHex));
      expect(saved.inline).toEqual(read.inline);
      expect(toHex(saved.checksum.digest)).toBe(toHex(read.checksum.digest));
    }
    // Every chunk was queued and lands in the store; inline files added none.
    await blobSaver.flush();
    expect(blobSaver.stats.blobsAdded).toBe(chunks.size);
  });
});
