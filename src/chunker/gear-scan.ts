/**
 * The chunker's innermost loop, the gear-hash scan for a cut point, as a WebAssembly function.
 *
 * Every byte of a large file past each chunk's first minSize bytes passes through this loop:
 * `h = (h << 1) + gear[byte]`, cut where `h & mask` is zero. V8 bounds-checks both array reads
 * of the JavaScript version (fastcdc.ts); the same loop in WebAssembly runs about twice as
 * fast, copy into its memory included (docs/performance.md). Cut points are the same bytes
 * either way: int32 arithmetic wraps
 * identically, and a test compares the two on random data and masks.
 *
 * The module is 138 bytes, written out below instruction by instruction rather than shipped as
 * an opaque binary, so it can be read and checked against the WebAssembly specification
 * (https://webassembly.github.io/spec/core/binary/). Where WebAssembly is unavailable
 * (`node --jitless`) or the host is big-endian, `sharedGearScanner()` returns undefined and the
 * chunker keeps its JavaScript loop.
 *
 * Memory layout: the gear table at byte 0 (256 little-endian int32), then a window of up to
 * WINDOW_BYTES of the data being scanned, copied in by `scan()`.
 */
import { endianness } from "node:os";

const GEAR_BYTES = 256 * 4;
/** Data copied into the module's memory per call; a 1 MiB copy costs ~30 µs, its scan ~0.5 ms. */
const WINDOW_BYTES = 1024 * 1024;
const WASM_PAGE = 64 * 1024;
const MEMORY_PAGES = Math.ceil((GEAR_BYTES + WINDOW_BYTES) / WASM_PAGE);

/** Unsigned LEB128, as the binary format encodes sizes and indices. */
function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function section(id: number, contents: number[]): number[] {
  return [id, ...uleb(contents.length), ...contents];
}

function name(text: string): number[] {
  return [...uleb(text.length), ...Buffer.from(text, "ascii")];
}

const I32 = 0x7f;
// Parameters and locals of `scan`, by index.
const FROM = 0;
const TO = 1;
const MASK = 2;
const HASH = 3;
// The opcodes used (binary format, "Instructions").
const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  globalGet: 0x23,
  globalSet: 0x24,
  i32Load: 0x28,
  i32Load8U: 0x2d,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32And: 0x71,
  i32Shl: 0x74,
  emptyBlockType: 0x40,
} as const;

/**
 * scan(from, to, mask) -> i32: hashes memory[from..to) into global 0 (the running hash).
 * Returns the address just past the first byte after which `hash & mask` is zero, with the
 * global reset to 0; or −1 with the global holding the hash so far.
 */
const scanBody = [
  ...[1, 1, I32], // one local group: a single i32 (HASH)
  ...[op.globalGet, 0, op.localSet, HASH],
  ...[op.block, op.emptyBlockType], // $found
  ...[op.block, op.emptyBlockType], // $exhausted
  ...[op.loop, op.emptyBlockType], // $next
  // if from >= to: break to $exhausted
  ...[op.localGet, FROM, op.localGet, TO, op.i32GeU, op.brIf, 1],
  // hash = (hash << 1) + gear[memory[from]]   (i32.load: align 2^2, offset 0)
  ...[op.localGet, HASH, op.i32Const, 1, op.i32Shl],
  ...[op.localGet, FROM, op.i32Load8U, 0, 0, op.i32Const, 2, op.i32Shl],
  ...[op.i32Load, 2, 0, op.i32Add, op.localSet, HASH],
  // from += 1
  ...[op.localGet, FROM, op.i32Const, 1, op.i32Add, op.localSet, FROM],
  // if (hash & mask) == 0: break to $found
  ...[op.localGet, HASH, op.localGet, MASK, op.i32And, op.i32Eqz, op.brIf, 2],
  ...[op.br, 0, op.end], // continue $next
  op.end, // $exhausted: keep the hash, return −1 (i32.const −1 is 0x7f in signed LEB128)
  ...[op.localGet, HASH, op.globalSet, 0, op.i32Const, 0x7f, op.return],
  op.end, // $found: reset the hash, return the address past the cut
  ...[op.i32Const, 0, op.globalSet, 0, op.localGet, FROM],
  op.end,
];

const moduleBytes = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
  // Type: one function type (i32, i32, i32) -> i32.
  ...section(1, [1, 0x60, 3, I32, I32, I32, 1, I32]),
  // Function: function 0 has type 0.
  ...section(3, [1, 0]),
  // Memory: one memory, no maximum, MEMORY_PAGES pages.
  ...section(5, [1, 0x00, ...uleb(MEMORY_PAGES)]),
  // Global: one mutable i32 initialised to 0 (the running hash).
  ...section(6, [1, I32, 1, op.i32Const, 0, op.end]),
  // Export: "scan" (function 0), "memory" (memory 0), "hash" (global 0).
  ...section(7, [
    3,
    ...name("scan"),
    0x00,
    0,
    ...name("memory"),
    0x02,
    0,
    ...name("hash"),
    0x03,
    0,
  ]),
  // Code: the body of function 0.
  ...section(10, [1, ...uleb(scanBody.length), ...scanBody]),
]);

/** The part of the WebAssembly JavaScript API used here (@types/node 20 does not declare it). */
interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: object };
}

/** Undefined where the runtime has no WebAssembly (`node --jitless`). */
const webAssembly = (globalThis as { WebAssembly?: WebAssemblyApi })
  .WebAssembly;

interface ScanExports {
  readonly scan: (from: number, to: number, mask: number) => number;
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly hash: { value: number };
}

/** One compiled scan loop with its own memory. Not reentrant; one per thread. */
export class GearScanner {
  readonly #exports: ScanExports;
  readonly #window: Uint8Array;
  readonly #gear: Int32Array;
  /** The table last copied in, compared by identity: a gear table never changes once made. */
  #loadedGear: Int32Array | undefined;
  /** After a scan that found no cut, the running hash to continue from. */
  hash = 0;

  constructor(api: WebAssemblyApi) {
    const instance = new api.Instance(new api.Module(moduleBytes));
    this.#exports = instance.exports as ScanExports;
    const buffer = this.#exports.memory.buffer;
    this.#gear = new Int32Array(buffer, 0, 256);
    this.#window = new Uint8Array(buffer, GEAR_BYTES, WINDOW_BYTES);
  }

  /**
   * Continues the gear hash `hash` over data[from..to). Returns the index just past the first
   * byte after which `hash & mask` is zero, or −1 when there is none; `this.hash` then holds
   * the hash to continue from. Exactly the loop of Chunker's JavaScript scan.
   */
  scan(
    gear: Int32Array,
    data: Uint8Array,
    from: number,
    to: number,
    hash: number,
    mask: number,
  ): number {
    if (this.#loadedGear !== gear) {
      this.#gear.set(gear);
      this.#loadedGear = gear;
    }
    const { scan, hash: global } = this.#exports;
    global.value = hash;
    for (let start = from; start < to; start += WINDOW_BYTES) {
      const length = Math.min(WINDOW_BYTES, to - start);
      this.#window.set(data.subarray(start, start + length));
      const cut = scan(GEAR_BYTES, GEAR_BYTES + length, mask);
      if (cut >= 0) {
        this.hash = 0;
        return start + (cut - GEAR_BYTES);
      }
    }
    this.hash = global.value;
    return -1;
  }
}

let shared: GearScanner | undefined | null = null;

/**
 * This thread's scanner, made on first use; undefined where WebAssembly cannot run it (then the
 * chunker's JavaScript loop is used).
 */
export function sharedGearScanner(): GearScanner | undefined {
  if (shared !== null) return shared;
  shared = undefined;
  if (endianness() === "LE" && webAssembly !== undefined) {
    try {
      shared = new GearScanner(webAssembly);
    } catch {
      // A runtime that refuses to compile (a policy, --jitless) keeps the JavaScript loop.
    }
  }
  return shared;
}
