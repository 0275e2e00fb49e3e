import { hkdfSha256 } from "../crypto/index.js";
import { sharedGearScanner, type GearScanner } from "./gear-scan.js";

/** Chunk size bounds in bytes. The average is the target of normalized chunking, not a mean. */
export interface ChunkerParams {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** restic's bounds: large enough that per-blob overhead is noise, small enough to dedup edits. */
export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = {
  minSize: 512 * KiB,
  avgSize: 1 * MiB,
  maxSize: 8 * MiB,
};

/** A chunk is one blob, and blob plaintexts are capped here. */
export const maxChunkSize = 64 * MiB;
// The masks take log2(avg) ± 2 bits of a 32-bit hash.
const minAvgSize = 64;

/** Throws RangeError unless min < avg < max <= 64 MiB, all integers, avg a power of two >= 64. */
export function checkChunkerParams(params: ChunkerParams): void {
  const { minSize, avgSize, maxSize } = params;
  if (![minSize, avgSize, maxSize].every((n) => Number.isSafeInteger(n)))
    throw new RangeError("Chunker sizes must be integers");
  if (avgSize < minAvgSize || (avgSize & (avgSize - 1)) !== 0)
    throw new RangeError(
      `Chunker average size must be a power of two of at least ${minAvgSize}, got ${avgSize}`,
    );
  if (!(minSize > 0 && minSize < avgSize && avgSize < maxSize))
    throw new RangeError(
      `Chunker sizes must satisfy 0 < min < avg < max, got ${minSize}, ${avgSize}, ${maxSize}`,
    );
  if (maxSize > maxChunkSize)
    throw new RangeError(
      `Chunker maximum size must be at most ${maxChunkSize}, got ${maxSize}`,
    );
}

/**
 * The 256-entry gear table, keyed: HKDF(chunkerKey, empty salt, "blindsync/v1/gear", 1024)
 * read as big-endian int32. A secret table makes cut points depend on the key, which raises the
 * cost of fingerprinting files by their chunk lengths.
 */
export function gearTableFromKey(chunkerKey: Uint8Array): Int32Array {
  const bytes = hkdfSha256(
    chunkerKey,
    new Uint8Array(0),
    "blindsync/v1/gear",
    1024,
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const gear = new Int32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = view.getInt32(i * 4, false);
  return gear;
}

/** A mask of the top `bits` bits of an int32. The gear hash mixes most into its high bits. */
function topBits(bits: number): number {
  return (-1 << (32 - bits)) | 0;
}

/**
 * Streaming FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking level 2: before
 * avgSize a cut needs log2(avg) + 2 zero bits, after it log2(avg) − 2, which narrows the
 * spread of chunk sizes. The first minSize bytes of a chunk are never hashed.
 *
 * Cut points depend only on the bytes, never on how they were split across push() calls.
 * push() and finish() return fresh copies owned by the caller; pushViews() and finishViews()
 * return views that stay valid only until the next call, so a caller that keeps few of the
 * chunks (a re-run, where most are stored already) hashes them without allocating. The chunker
 * keeps no reference to a pushed buffer once a call returns, so callers may reuse their read
 * buffer. Memory: two carry buffers of at most maxSize bytes each.
 */
export class Chunker {
  readonly #gear: Int32Array;
  readonly #minSize: number;
  readonly #avgSize: number;
  readonly #maxSize: number;
  readonly #maskS: number;
  readonly #maskL: number;
  /** Bytes of the current, unfinished chunk; grown on demand up to maxSize. */
  #carry = new Uint8Array(0);
  #carryLength = 0;
  /**
   * The other carry buffer: a chunk completed in #carry is returned as a view of it, and the
   * bytes after it go into this one, so that view stays intact until the next call.
   */
  #spare = new Uint8Array(0);
  /** Gear hash over the current chunk's bytes from minSize on. */
  #hash = 0;
  /** The WebAssembly scan loop (gear-scan.ts), or null for the JavaScript one below. */
  readonly #scanner: GearScanner | null;

  /** `scanner`: null runs the JavaScript loop (tests compare the two); the default is faster. */
  constructor(
    gear: Int32Array,
    params: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
    scanner: GearScanner | null = sharedGearScanner() ?? null,
  ) {
    if (gear.length !== 256)
      throw new RangeError("Gear table must have 256 entries");
    checkChunkerParams(params);
    this.#gear = gear;
    this.#minSize = params.minSize;
    this.#avgSize = params.avgSize;
    this.#maxSize = params.maxSize;
    const bits = Math.log2(params.avgSize);
    this.#maskS = topBits(bits + 2);
    this.#maskL = topBits(bits - 2);
    this.#scanner = scanner;
  }

  /** Feeds bytes; returns a copy of every chunk completed by them, in order. */
  push(data: Uint8Array): Uint8Array[] {
    // Uint8Array's slice copies; a Buffer's slice is a view of the caller's memory.
    return this.pushViews(data).map((view) =>
      Uint8Array.prototype.slice.call(view),
    );
  }

  /** Ends the stream: returns a copy of the tail as the last chunk, if any. Resets the chunker. */
  finish(): Uint8Array[] {
    const tail = this.finishViews().map((view) =>
      Uint8Array.prototype.slice.call(view),
    );
    this.#carry = new Uint8Array(0);
    this.#spare = new Uint8Array(0);
    return tail;
  }

  /**
   * Feeds bytes; returns every chunk completed by them, in order, as views of `data` or of the
   * chunker's own buffers. They are valid until the next call of any method: copy what you keep.
   */
  pushViews(data: Uint8Array): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    let offset = 0;
    while (offset < data.length) {
      const taken = this.#scan(data, offset);
      if (taken < 0) {
        this.#keep(data.subarray(offset));
        break;
      }
      const end = offset + taken;
      if (this.#carryLength === 0) {
        chunks.push(data.subarray(offset, end));
      } else {
        this.#keep(data.subarray(offset, end));
        chunks.push(this.#carry.subarray(0, this.#carryLength));
        [this.#carry, this.#spare] = [this.#spare, this.#carry];
        this.#carryLength = 0;
      }
      offset = end;
    }
    return chunks;
  }

  /**
   * Cuts a whole stream given in one buffer: the chunks pushViews() then finishViews() would
   * return, every one a view of `data`, the tail included. Nothing is copied: a file read
   * whole (most files of a package tree are under one read buffer) would otherwise have all its
   * bytes after the last cut copied into the carry buffer, and a file between the minimum
   * size and one read, cut nowhere, copied whole. Only on a fresh stream (nothing pushed since
   * the last finish), which it leaves fresh.
   */
  cutWhole(data: Uint8Array): Uint8Array[] {
    if (this.#carryLength !== 0)
      throw new RangeError(
        "cutWhole() takes a whole stream, not a continuation",
      );
    const chunks: Uint8Array[] = [];
    let offset = 0;
    while (offset < data.length) {
      const taken = this.#scan(data, offset);
      if (taken < 0) {
        chunks.push(data.subarray(offset));
        break;
      }
      chunks.push(data.subarray(offset, offset + taken));
      offset += taken;
    }
    this.#hash = 0;
    return chunks;
  }

  /** Ends the stream like finish(), returning the tail as a view valid until the next call. */
  finishViews(): Uint8Array[] {
    const length = this.#carryLength;
    this.#carryLength = 0;
    this.#hash = 0;
    if (length === 0) return [];
    const tail = this.#carry.subarray(0, length);
    [this.#carry, this.#spare] = [this.#spare, this.#carry];
    return [tail];
  }

  #keep(bytes: Uint8Array): void {
    const needed = this.#carryLength + bytes.length;
    if (needed > this.#carry.length) {
      // Doubling keeps copies amortised; the cap holds because #scan cuts at maxSize.
      const grown = new Uint8Array(
        Math.min(this.#maxSize, Math.max(needed, 2 * this.#carry.length)),
      );
      grown.set(this.#carry.subarray(0, this.#carryLength));
      this.#carry = grown;
    }
    this.#carry.set(bytes, this.#carryLength);
    this.#carryLength = needed;
  }

  /**
   * Continues the current chunk into data[offset..]. Returns how many bytes of `data` complete
   * the chunk, or −1 if all of them belong to it and more input is needed.
   */
  #scan(data: Uint8Array, offset: number): number {
    const start = this.#carryLength; // position of data[offset] within the chunk
    const end = Math.min(start + data.length - offset, this.#maxSize);
    const normal = Math.min(this.#avgSize, end);
    const delta = offset - start; // data index of chunk position p is p + delta
    const normalEnd = normal + delta;
    const scanEnd = end + delta;
    const from = Math.max(start, this.#minSize) + delta;
    const cut =
      this.#scanner === null
        ? this.#scanJs(data, from, normalEnd, scanEnd)
        : this.#scanWasm(this.#scanner, data, from, normalEnd, scanEnd);
    if (cut >= 0) {
      this.#hash = 0;
      return cut - offset;
    }
    if (end === this.#maxSize) {
      this.#hash = 0;
      return end - start;
    }
    return -1;
  }

  /**
   * The gear-hash loop over data[from..scanEnd): the stricter mask before normalEnd, the looser
   * one after. Returns the data index just past the cut, or −1 with #hash continued.
   */
  #scanJs(
    data: Uint8Array,
    from: number,
    normalEnd: number,
    scanEnd: number,
  ): number {
    const gear = this.#gear;
    const maskS = this.#maskS;
    const maskL = this.#maskL;
    let h = this.#hash;
    // Loop over data indices, not chunk positions: V8 compiles `data[i + delta]` to a loop
    // 2–3x slower. `as number`: indices are in bounds by construction, and a `?? 0` would add
    // a branch to the hottest loop of a backup.
    let i = from;
    for (; i < normalEnd; i++) {
      h = ((h << 1) + (gear[data[i] as number] as number)) | 0;
      if ((h & maskS) === 0) return i + 1;
    }
    for (; i < scanEnd; i++) {
      h = ((h << 1) + (gear[data[i] as number] as number)) | 0;
      if ((h & maskL) === 0) return i + 1;
    }
    this.#hash = h;
    return -1;
  }

  /** #scanJs's loop run by the WebAssembly scanner: the same cuts, about twice as fast. */
  #scanWasm(
    scanner: GearScanner,
    data: Uint8Array,
    from: number,
    normalEnd: number,
    scanEnd: number,
  ): number {
    // The stricter mask before normalEnd, the looser one after it, as in #scanJs.
    const ranges = [
      [from, normalEnd, this.#maskS],
      [Math.max(from, normalEnd), scanEnd, this.#maskL],
    ] as const;
    let hash = this.#hash;
    for (const [start, end, mask] of ranges) {
      if (start >= end) continue;
      const cut = scanner.scan(this.#gear, data, start, end, hash, mask);
      if (cut >= 0) return cut;
      hash = scanner.hash;
    }
    this.#hash = hash;
    return -1;
  }
}

/** One-shot chunking of a whole buffer; returns the chunk lengths in order. */
export function chunkBuffer(
  gear: Int32Array,
  params: ChunkerParams,
  data: Uint8Array,
): number[] {
  const chunker = new Chunker(gear, params);
  return [...chunker.push(data), ...chunker.finish()].map((c) => c.length);
}
