/**
 * Reading ahead what a restore said it will ask for. A restore asks for blobs one at a time;
 * asking storage for each alone costs a request per blob whatever its size: an open, a stat, a
 * read and a close on a directory, two round trips over sftp, one HTTP request on S3. For a
 * tree of many small files that was most of a restore's time (docs/performance.md, "Reading
 * packs ahead").
 *
 * The restore knows what it will read: before it fetches a directory's trees and small files
 * it hands their blob ids down through Store.expect() (a hint: ids only, roughly in the order
 * they will be asked for; the next subdirectories' first files too, engine/restore/
 * expect-ahead.ts). This module remembers where the index places them, and when one of them is
 * asked for it reads, in the same go, every other expected blob of that pack: one ranged read
 * per run of expected blobs whose gaps are at most GAP_BYTES (the gap's bytes, another blob's
 * or a trailer's, are read and thrown away). Each expected blob keeps a copy of its own bytes
 * until it is asked for, so what is held shrinks blob by blob as the restore consumes it,
 * bounded by HELD_BYTES. A blob nobody said to expect is read alone: a one-file restore, `cat`
 * or a tree load reads what it asks for and nothing else.
 *
 * Guessing instead (windows opened on "sequential" or "busy pack" signs, the eleventh round)
 * read 1,959 MiB for a 1,278 MiB repository over sftp: windows were evicted before the restore
 * asked for their blobs, or held blobs it never asked for.
 *
 * Nothing here is trusted: a hint only decides which bytes are read together. The bytes go up
 * to the repository layer, which authenticates every blob, and a read that fails or comes back
 * short leaves each of its blobs to be read alone when asked for, so damage beside the blob
 * asked for never hides a blob that is intact.
 */

import { toHex } from "../../util/bytes.js";

/** Unexpected bytes at most between two expected blobs read in one request. */
export const GAP_BYTES = 64 * 1024;

/** Bytes of expected blobs read but not yet asked for, at most (a window may add the one asked). */
export const HELD_BYTES = 32 * 1024 * 1024;

/**
 * Bytes kept at most of the blobs in the gaps a read bridged (the oldest go first). A backup
 * seals the small files of neighbouring directories in no strict order, so a pack's blobs of
 * the directory being restored lie between those of the next ones, which the walk hints
 * later: kept, they are not read a second time.
 */
export const SPARE_BYTES = 16 * 1024 * 1024;

/** Expected blobs remembered at most; later hints are dropped until asks or staleness make room. */
export const MAX_EXPECTED = 32_768;

/**
 * An expected blob hinted this many hints before the latest one asked for is forgotten: the
 * restore went past it (a file it found unchanged, or failed) and will not ask for it.
 */
export const STALE_BEHIND = 8_192;

/** Packs whose read stretches are remembered (read-spans), the most recently read. */
const PACKS_REMEMBERED = 256;

/** A byte range of a pack object. */
export interface PackRegion {
  readonly pack: string;
  readonly offset: number;
  readonly length: number;
}

export interface ReadAheadSource {
  /** Reads a range of a pack object (the ObjectStore's ranged get). */
  read(region: PackRegion): Promise<Uint8Array>;
  /**
   * Where the index places each blob (its first location, as get() tries first), if anywhere,
   * in the order asked: one call for a whole hint, which the index answers in batches.
   */
  locateMany(ids: readonly Uint8Array[]): readonly (PackRegion | undefined)[];
  /** The blobs the index places in `pack` wholly within [low, high), by offset. */
  extents(pack: string, low: number, high: number): readonly Extent[];
}

/** Where one blob lies in its pack. */
export interface Extent {
  readonly offset: number;
  readonly length: number;
}

interface Expectation {
  readonly key: string;
  /** The blob's id in hex. */
  readonly id: string;
  readonly region: PackRegion;
  /** Order of the hint; the latest hint of an id counts. */
  seq: number;
  /** Asks still expected: files with the same content ask for the same blob. */
  asks: number;
  /** Its own copy of its bytes once a read covers it; undefined when that read failed. */
  bytes?: Promise<Uint8Array | undefined>;
  /** Bytes counted in HELD_BYTES: its length from its read until it is asked for or forgotten. */
  held: number;
}

export class PackReadAhead {
  readonly #source: ReadAheadSource;
  /** By region; insertion order is hint order (seq ascending). */
  readonly #expected = new Map<string, Expectation>();
  /** The same expectations by blob id (hex): where get() reads a hinted blob without the index. */
  readonly #byId = new Map<string, Expectation>();
  /** Per pack, the expected blobs no read covers yet. */
  readonly #unread = new Map<string, Set<Expectation>>();
  /**
   * Per pack, the stretches already read (insertion order is age): a gap that overlaps one is
   * not read again, since the blobs there were expected and read, and are not coming back.
   */
  readonly #readSpans = new Map<string, { start: number; end: number }[]>();
  /** Blobs read in bridged gaps, by region key; insertion order is age. */
  readonly #spare = new Map<string, Uint8Array>();
  #spareBytes = 0;
  #heldBytes = 0;
  #seq = 0;
  /** The latest hint asked for. */
  #frontier = 0;

  constructor(source: ReadAheadSource) {
    this.#source = source;
  }

  /** Bytes of expected blobs read and not yet asked for (for tests and measurements). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Expected blobs remembered (for tests). */
  get expectedCount(): number {
    return this.#expected.size;
  }

  /** Remembers that these blobs will be asked for soon, roughly in this order. */
  expect(ids: readonly Uint8Array[]): void {
    const regions = this.#source.locateMany(ids);
    for (const [index, id] of ids.entries()) {
      const region = regions[index];
      if (region === undefined) continue;
      const key = keyOf(region);
      const known = this.#expected.get(key);
      if (known !== undefined) {
        // Asked for once more, and later: moved to the end so hint order stays seq order.
        known.asks++;
        known.seq = ++this.#seq;
        this.#expected.delete(key);
        this.#expected.set(key, known);
        continue;
      }
      if (this.#expected.size >= MAX_EXPECTED) {
        this.#forgetStale();
        if (this.#expected.size >= MAX_EXPECTED) return;
      }
      const expectation: Expectation = {
        key,
        id: toHex(id),
        region,
        seq: ++this.#seq,
        asks: 1,
        held: 0,
      };
      this.#expected.set(key, expectation);
      this.#byId.set(expectation.id, expectation);
      const spare = this.#takeSpare(region);
      if (spare !== undefined) {
        expectation.bytes = Promise.resolve(spare);
        this.#hold(expectation);
        continue;
      }
      let unread = this.#unread.get(region.pack);
      if (unread === undefined) {
        unread = new Set();
        this.#unread.set(region.pack, unread);
      }
      unread.add(expectation);
    }
  }

  /**
   * Where a blob expected and not yet asked for (its last ask) lies: the location its hint
   * looked up, so that the get need not ask the index again (a SQLite query per small file).
   */
  expectedRegion(id: Uint8Array): PackRegion | undefined {
    return this.#byId.get(toHex(id))?.region;
  }

  /** The bytes of `region`, exactly, as a buffer of its own. */
  async read(region: PackRegion): Promise<Uint8Array> {
    const expectation = this.#expected.get(keyOf(region));
    if (
      expectation === undefined ||
      expectation.region.length !== region.length
    ) {
      const spare = this.#takeSpare(region);
      return spare ?? (await this.#source.read(region));
    }
    if (expectation.seq > this.#frontier) {
      this.#frontier = expectation.seq;
      // Cheap: it stops at the first expected blob that is not stale.
      this.#forgetStale();
    }
    expectation.bytes ??= this.#readPack(expectation);
    const bytes = expectation.bytes;
    // Counted before the wait, so that two asks at once agree on which one is the last.
    const asksLeft = --expectation.asks;
    if (asksLeft <= 0) this.#forget(expectation);
    const held = await bytes;
    if (held === undefined) return await this.#source.read(region);
    // The last ask takes the copy; earlier ones get copies of their own.
    return asksLeft > 0 ? held.slice() : held;
  }

  /**
   * Reads `asked` together with the pack's other expected blobs that no read covers yet,
   * soonest hinted first while HELD_BYTES allows, one request per run of them.
   */
  #readPack(asked: Expectation): Promise<Uint8Array | undefined> {
    const pack = asked.region.pack;
    const unread = this.#unread.get(pack) ?? new Set<Expectation>();
    const chosen = [asked];
    let room = HELD_BYTES - this.#heldBytes - asked.region.length;
    const others = [...unread]
      .filter((other) => other !== asked)
      .sort((a, b) => a.seq - b.seq);
    for (const other of others) {
      if (other.region.length > room) continue;
      chosen.push(other);
      room -= other.region.length;
    }
    chosen.sort((a, b) => a.region.offset - b.region.offset);
    let run: Expectation[] = [];
    let runEnd = 0;
    for (const expectation of chosen) {
      const start = expectation.region.offset;
      const end = start + expectation.region.length;
      if (
        run.length > 0 &&
        (start - runEnd > GAP_BYTES || this.#wasRead(pack, runEnd, start))
      ) {
        this.#readRun(pack, run);
        run = [];
      }
      runEnd = run.length === 0 ? end : Math.max(runEnd, end);
      run.push(expectation);
    }
    this.#readRun(pack, run);
    for (const expectation of chosen) unread.delete(expectation);
    if (unread.size === 0) this.#unread.delete(pack);
    return asked.bytes as Promise<Uint8Array | undefined>;
  }

  /** One ranged read over `run` (sorted by offset); each blob of it gets a copy of its bytes. */
  #readRun(pack: string, run: readonly Expectation[]): void {
    const first = run[0] as Expectation;
    const offset = first.region.offset;
    let end = offset;
    for (const { region } of run)
      end = Math.max(end, region.offset + region.length);
    const reading = this.#source.read({ pack, offset, length: end - offset });
    this.#remember(pack, offset, end);
    if (run.length > 1) this.#keepGaps(pack, run, reading);
    for (const expectation of run) {
      const start = expectation.region.offset - offset;
      const stop = start + expectation.region.length;
      this.#hold(expectation);
      expectation.bytes = reading.then(
        // A copy: the window's buffer goes as soon as its blobs are cut out of it.
        (bytes) =>
          bytes.length >= stop ? bytes.slice(start, stop) : undefined,
        () => {
          this.#release(expectation);
          return undefined;
        },
      );
    }
  }

  #hold(expectation: Expectation): void {
    expectation.held = expectation.region.length;
    this.#heldBytes += expectation.held;
  }

  /** Keeps a copy of each blob in the gaps between the run's blobs, once the read is in. */
  #keepGaps(
    pack: string,
    run: readonly Expectation[],
    reading: Promise<Uint8Array>,
  ): void {
    const offset = (run[0] as Expectation).region.offset;
    const gaps: Extent[] = [];
    let end = offset;
    for (const { region } of run) {
      if (region.offset > end)
        gaps.push(...this.#source.extents(pack, end, region.offset));
      end = Math.max(end, region.offset + region.length);
    }
    if (gaps.length === 0) return;
    reading.then(
      (bytes) => {
        for (const gap of gaps) {
          const start = gap.offset - offset;
          if (bytes.length < start + gap.length) break;
          const key = keyOf({ pack, ...gap });
          // Hinted meanwhile (its directory reached): its own read is on the way already.
          if (this.#expected.has(key) || this.#spare.has(key)) continue;
          this.#spare.set(key, bytes.slice(start, start + gap.length));
          this.#spareBytes += gap.length;
        }
        for (const [key, kept] of this.#spare) {
          if (this.#spareBytes <= SPARE_BYTES) break;
          this.#spare.delete(key);
          this.#spareBytes -= kept.length;
        }
      },
      () => undefined,
    );
  }

  /** The kept copy of a blob read in a gap, given up to the caller. */
  #takeSpare(region: PackRegion): Uint8Array | undefined {
    const key = keyOf(region);
    const kept = this.#spare.get(key);
    if (kept === undefined) return undefined;
    this.#spare.delete(key);
    this.#spareBytes -= kept.length;
    return kept.length === region.length ? kept : undefined;
  }

  /** Whether some of [start, end) of the pack was read before. */
  #wasRead(pack: string, start: number, end: number): boolean {
    if (end <= start) return false;
    return (this.#readSpans.get(pack) ?? []).some(
      (span) => span.start < end && start < span.end,
    );
  }

  #remember(pack: string, start: number, end: number): void {
    const spans = this.#readSpans.get(pack) ?? [];
    this.#readSpans.delete(pack);
    spans.push({ start, end });
    this.#readSpans.set(pack, spans);
    if (this.#readSpans.size > PACKS_REMEMBERED)
      this.#readSpans.delete(this.#readSpans.keys().next().value as string);
  }

  /** Forgets the expected blobs hinted STALE_BEHIND or more before the latest one asked for. */
  #forgetStale(): void {
    for (const expectation of this.#expected.values()) {
      if (expectation.seq + STALE_BEHIND > this.#frontier) break;
      this.#forget(expectation);
    }
  }

  #forget(expectation: Expectation): void {
    if (this.#expected.get(expectation.key) === expectation)
      this.#expected.delete(expectation.key);
    if (this.#byId.get(expectation.id) === expectation)
      this.#byId.delete(expectation.id);
    const unread = this.#unread.get(expectation.region.pack);
    if (unread?.delete(expectation) === true && unread.size === 0)
      this.#unread.delete(expectation.region.pack);
    this.#release(expectation);
  }

  #release(expectation: Expectation): void {
    this.#heldBytes -= expectation.held;
    expectation.held = 0;
  }
}

function keyOf(region: PackRegion): string {
  return `${region.pack}:${region.offset}`;
}
