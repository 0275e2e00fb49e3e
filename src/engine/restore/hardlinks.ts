/**
 * Scheduling regular files, and hard links among them. The entries a snapshot records with one
 * (dev, ino) are written once, by the first; each later one waits for it and becomes a hard link
 * of it, but only when the two agree on size and checksum (a hostile tree may give unrelated files
 * one identity) and the first was restored; otherwise it is written as a copy of its own.
 */
import { linkSync, lstatSync } from "node:fs";
import { sameChecksum, type FileEntry } from "../../repo/index.js";
import { parentPath } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import { fileWeight, type FileWriter } from "./file-writer.js";
import { lstatOrUndefined, unlinkQuietly } from "./fs-ops.js";
import { fateOf } from "./overwrite.js";
import type { FilePool } from "./scheduler.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";

interface LinkSource {
  readonly entry: FileEntry;
  /** The first entry's restored path, or undefined when it could not be restored. */
  readonly done: Promise<Buffer | undefined>;
}

export class Hardlinks {
  private readonly sources = new Map<string, LinkSource>();

  constructor(
    private readonly pool: FilePool,
    private readonly writer: FileWriter,
    private readonly target: Target,
    private readonly tally: Tally,
    private readonly deletion: Deletion,
  ) {}

  /** Schedules `entry` to be restored at `path`; resolves once it has started. */
  async schedule(
    entry: FileEntry,
    path: Buffer,
    fresh: boolean,
  ): Promise<void> {
    const weight = fileWeight(entry);
    const hardlink = entry.hardlink;
    // A dry run links nothing: each entry is judged on its own, as a copy would be.
    if (hardlink === undefined || this.writer.settings.dryRun) {
      await this.pool.schedule(weight, async () => {
        await this.writer.write(entry, path, fresh);
      });
      return;
    }
    const key = `${hardlink.dev}:${hardlink.ino}`;
    const source = this.sources.get(key);
    if (source === undefined) {
      let settle: (path: Buffer | undefined) => void = () => undefined;
      const done = new Promise<Buffer | undefined>(
        (resolve) => (settle = resolve),
      );
      this.sources.set(key, { entry, done });
      await this.pool.schedule(weight, async () => {
        let ok = false;
        try {
          ok = await this.writer.write(entry, path, fresh);
        } finally {
          settle(ok ? path : undefined);
        }
      });
      return;
    }
    // The first entry was scheduled earlier, so it holds a slot and cannot wait on this one.
    await this.pool.schedule(0, async () => {
      const firstPath = await source.done;
      const sameContent =
        source.entry.size === entry.size &&
        sameChecksum(source.entry.checksum, entry.checksum);
      if (
        firstPath !== undefined &&
        sameContent &&
        this.link(firstPath, path, entry)
      )
        return;
      await this.writer.write(entry, path, fresh);
    });
  }

  /**
   * Creates `path` as a hardlink of `firstPath` (both inside the target), or leaves what stands
   * there when the overwrite policy says so; false to copy instead.
   */
  private link(firstPath: Buffer, path: Buffer, entry: FileEntry): boolean {
    this.target.assertInside(firstPath);
    this.target.assertInside(path);
    const temp = this.target.tempPath(parentPath(path));
    try {
      const first = lstatSync(firstPath, { bigint: true });
      const existing = lstatOrUndefined(path);
      if (
        existing?.isFile() === true &&
        existing.ino === first.ino &&
        existing.dev === first.dev
      ) {
        this.tally.fileKept(this.target.show(path));
        return true;
      }
      const fate = fateOf(
        this.writer.settings.overwrite,
        entry.mtimeNs,
        existing,
      );
      if (fate === "keep") {
        this.tally.fileLeft(this.target.show(path));
        return true;
      }
      linkSync(firstPath, temp);
      this.deletion.replace(temp, path);
      this.tally.fileLinked(
        fate === "create" ? "create" : "overwrite",
        this.target.show(path),
      );
      return true;
    } catch {
      unlinkQuietly(temp);
      return false;
    }
  }
}
