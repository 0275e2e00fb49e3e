/**
 * Copies of small byte strings that are held for a while and dropped together, packed into
 * slabs of their own. A view of a few bytes keeps alive whatever it is a view of (an 8 KiB
 * pool slab for joinPath's and Buffer.from's results, a batch's buffer of ids and checksums, a
 * tree's plaintext), and many such views held far apart hold a slab each; a copy in an
 * ArrayBuffer of its own costs a backing store and a collection per copy instead. Here a copy
 * costs its bytes: the arena hands out views of 64 KiB slabs, and the slabs go when the last
 * view does (docs/performance.md, "Paths that held their pool slabs").
 *
 * Shared leaf: imports nothing from any layer.
 */

const SLAB_BYTES = 64 * 1024;

export class ByteArena {
  #slab: Buffer | undefined;
  #used = 0;

  /** A copy of `bytes`, a view of one of the arena's slabs (or of its own, if large). */
  copy(bytes: Uint8Array): Buffer {
    const length = bytes.length;
    if (length > SLAB_BYTES / 8) {
      const own = Buffer.allocUnsafeSlow(length);
      own.set(bytes);
      return own;
    }
    if (this.#slab === undefined || this.#used + length > SLAB_BYTES) {
      this.#slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.#used = 0;
    }
    const view = this.#slab.subarray(this.#used, this.#used + length);
    view.set(bytes);
    this.#used += length;
    return view;
  }
}
