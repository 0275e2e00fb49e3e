/**
 * Reading a pack's neighbouring blobs with the one asked for. A restore asks for blobs one at a
 * time; asking storage for each alone costs a request per blob whatever its size: an open, a
 * stat, a read and a close on a directory, two round trips over sftp, one HTTP request on S3.
 * For a tree of many small files that was most of a restore's time (docs/performance.md,
 * "Reading packs ahead").
 *
 * A backup packs small files together (in the order its sealing finished, not the walk's), so
 * a restore that asks for several small blobs of one pack will ask for more of them soon. Two
 * signs open a window, a read of the blobs the index places around the one asked for, kept
 * for the blobs asked for next:
 * - the blob starts where the last region asked for in its pack, or a window of it, ended
 *   (a sequential read): the window runs forward, READ_AHEAD_BYTES at most;
 * - it is at least the BUSY_AFTER-th small blob asked for in its pack lately: the window is
 *   centred on it, READ_AHEAD_BYTES at most each way.
 * Any other blob, and every large one, is read alone, so restoring one file reads little more
 * than that file. A window holds small blobs only: it stops at a large blob either way. Windows in flight are shared: blobs asked for at once wait for one read.
 *
 * Nothing here is trusted more than a read of the blob alone: the bytes go up to the
 * repository layer, which authenticates every blob. A window that fails to read (a pack cut
 * short or changed on storage) is dropped and the blob read alone, so damage beside the blob
 * asked for never hides a blob that is intact.
 */

/** The most bytes a window reaches past the blob asked for, in each direction it runs. */
export const READ_AHEAD_BYTES = 2 * 1024 * 1024;

/** Blobs at least this long are read alone: a window would save a request's worth at most. */
export const READ_ALONE_BYTES = 256 * 1024;

/** The small blobs asked for in one pack, without a window, after which a window opens. */
export const BUSY_AFTER = 3;

/** Bytes of windows kept (the oldest go first). */
export const WINDOW_BYTES_KEPT = 16 * 1024 * 1024;

/**
 * Bytes read from storage at most per byte asked for, beyond WINDOW_BYTES_KEPT: past it no window
 * opens (blobs are read alone) until reads alone bring the ratio back under. A full restore of
 * many small files spread over many packs evicts windows before their blobs are asked for, and
 * read the full benchmark corpus 2.9 times over sftp; this bounds what any order of asks costs.
 */
export const MAX_OVER_READ = 1.5;

/** Packs whose recent asks are remembered. */
const PACKS_FOLLOWED = 64;

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
   * The blobs the index places in `pack` wholly within [low, high), by offset: a window never
   * reaches past what the index knows is there.
   */
  extents(pack: string, low: number, high: number): readonly Extent[];
}

/** Where one blob lies in its pack. */
export interface Extent {
  readonly offset: number;
  readonly length: number;
}

interface Window extends PackRegion {
  readonly bytes: Promise<Uint8Array>;
}

/** What is remembered of a pack's recent asks. */
interface PackTrail {
  /** Where the last region asked for ended. */
  nextOffset: number;
  /** Small regions asked for that no window held. */
  asks: number;
}

export class PackReadAhead {
  readonly #source: ReadAheadSource;
  /** Most recently used last. */
  readonly #windows: Window[] = [];
  #windowBytes = 0;
  /** Insertion order is age. */
  readonly #trails = new Map<string, PackTrail>();
  /** Bytes of blobs asked for, and bytes read from storage (windows and blobs alone). */
  #asked = 0;
  #fetched = 0;

  constructor(source: ReadAheadSource) {
    this.#source = source;
  }

  /** The bytes of `region`, exactly, as a buffer of its own. */
  async read(region: PackRegion): Promise<Uint8Array> {
    const held = this.#windowHolding(region);
    const trail = this.#follow(region, held !== undefined);
    this.#asked += region.length;
    if (held !== undefined) return await this.#fromWindow(held, region);
    if (region.length >= READ_ALONE_BYTES) return await this.#alone(region);
    const end = region.offset + region.length;
    // Never again over what a kept window of the pack holds.
    const { low, high } = this.#room(region);
    let span: { start: number; end: number } | undefined;
    if (trail.sequential || this.#windowEndingAt(region))
      span = smallRun(
        this.#source.extents(
          region.pack,
          end,
          Math.min(high, end + READ_AHEAD_BYTES),
        ),
        region,
        "forward",
      );
    else if (trail.asks >= BUSY_AFTER) {
      // A busy pack's small blobs are read whole when they lie close enough together (a full
      // restore needs all of them), else around the blob.
      span = smallRun(
        this.#source.extents(region.pack, low, high),
        region,
        "both",
      );
      if (span !== undefined && span.end - span.start > 2 * READ_AHEAD_BYTES)
        span = smallRun(
          this.#source.extents(
            region.pack,
            Math.max(low, region.offset - READ_AHEAD_BYTES),
            Math.min(high, end + READ_AHEAD_BYTES),
          ),
          region,
          "both",
        );
    }
    if (span === undefined) return await this.#alone(region);
    const start = Math.min(span.start, region.offset);
    const length = Math.max(span.end, end) - start;
    if (
      length === region.length ||
      this.#fetched + length > MAX_OVER_READ * this.#asked + WINDOW_BYTES_KEPT
    )
      return await this.#alone(region);
    this.#fetched += length;
    const window: Window = {
      pack: region.pack,
      offset: start,
      length,
      bytes: this.#source.read({ pack: region.pack, offset: start, length }),
    };
    this.#keep(window);
    return await this.#fromWindow(window, region);
  }

  /** The region read alone, counted. */
  #alone(region: PackRegion): Promise<Uint8Array> {
    this.#fetched += region.length;
    return this.#source.read(region);
  }

  async #fromWindow(window: Window, region: PackRegion): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = await window.bytes;
    } catch {
      // The window failed as a whole; the blob alone may still read (and fails on its own
      // terms if not).
      this.#drop(window);
      return await this.#alone(region);
    }
    const start = region.offset - window.offset;
    if (bytes.length < start + region.length) {
      this.#drop(window);
      return await this.#alone(region);
    }
    // A copy: the caller may keep the blob, and must not keep the whole window alive with it.
    return bytes.slice(start, start + region.length);
  }

  #windowHolding(region: PackRegion): Window | undefined {
    for (let i = this.#windows.length - 1; i >= 0; i--) {
      const window = this.#windows[i] as Window;
      if (
        window.pack === region.pack &&
        region.offset >= window.offset &&
        region.offset + region.length <= window.offset + window.length
      ) {
        if (i !== this.#windows.length - 1) {
          this.#windows.splice(i, 1);
          this.#windows.push(window);
        }
        return window;
      }
    }
    return undefined;
  }

  /** The stretch of the region's pack around it that no kept window holds. */
  #room(region: PackRegion): { low: number; high: number } {
    let low = 0;
    let high = Number.MAX_SAFE_INTEGER;
    for (const window of this.#windows) {
      if (window.pack !== region.pack) continue;
      const windowEnd = window.offset + window.length;
      if (windowEnd <= region.offset) low = Math.max(low, windowEnd);
      else if (window.offset >= region.offset + region.length)
        high = Math.min(high, window.offset);
    }
    return { low, high };
  }

  /** Whether a window of the region's pack ends where it starts (asks finish out of order). */
  #windowEndingAt(region: PackRegion): boolean {
    return this.#windows.some(
      (window) =>
        window.pack === region.pack &&
        window.offset + window.length === region.offset,
    );
  }

  /** Records `region` as asked for in its pack; whether it continues the last one, and how busy the pack is. */
  #follow(
    region: PackRegion,
    held: boolean,
  ): { sequential: boolean; asks: number } {
    const trail = this.#trails.get(region.pack);
    const sequential = trail?.nextOffset === region.offset;
    const asks =
      (trail?.asks ?? 0) + (held || region.length >= READ_ALONE_BYTES ? 0 : 1);
    this.#trails.delete(region.pack);
    this.#trails.set(region.pack, {
      nextOffset: region.offset + region.length,
      asks,
    });
    if (this.#trails.size > PACKS_FOLLOWED) {
      const oldest = this.#trails.keys().next().value as string;
      this.#trails.delete(oldest);
    }
    return { sequential, asks };
  }

  #keep(window: Window): void {
    this.#windows.push(window);
    this.#windowBytes += window.length;
    while (this.#windowBytes > WINDOW_BYTES_KEPT && this.#windows.length > 1)
      this.#drop(this.#windows[0] as Window);
  }

  #drop(window: Window): void {
    const at = this.#windows.indexOf(window);
    if (at < 0) return;
    this.#windows.splice(at, 1);
    this.#windowBytes -= window.length;
  }
}

/**
 * The stretch of small blobs next to `region` in `extents` (sorted by offset): a window stops
 * at the first large blob each way. Large blobs are read alone when asked for, so a window
 * that held one would read its bytes twice (measured: a full restore over sftp read 1.8 times
 * the repository's size that way), and would crowd the small blobs out of the kept windows.
 */
export function smallRun(
  extents: readonly Extent[],
  region: PackRegion,
  direction: "forward" | "both",
): { start: number; end: number } | undefined {
  const end = region.offset + region.length;
  let start = region.offset;
  let stop = end;
  for (const extent of extents) {
    if (extent.offset < end) continue;
    if (extent.length >= READ_ALONE_BYTES) break;
    stop = Math.max(stop, extent.offset + extent.length);
  }
  if (direction === "both")
    for (let i = extents.length - 1; i >= 0; i--) {
      const extent = extents[i] as Extent;
      if (extent.offset + extent.length > region.offset) continue;
      if (extent.length >= READ_ALONE_BYTES) break;
      start = Math.min(start, extent.offset);
    }
  return start === region.offset && stop === end
    ? undefined
    : { start, end: stop };
}
