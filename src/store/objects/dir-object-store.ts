/**
 * An ObjectStore on a local directory (`init --packs PATH`): each object is a file under the
 * root at its name, folders made on demand. The directory is plain files, so rsync, rclone or
 * `cp -a` can carry it anywhere and it opens there as it was.
 *
 * Owner-only, whatever the umask, as the SQLite repository is: folders 0700, files 0600.
 *
 * put writes a temporary dot-file in the object's folder, fsyncs it, renames it over the name
 * and fsyncs the folder: a crash leaves the old object or the new one, never a part, and a power
 * loss after put resolved keeps the new one. Folders it makes are fsynced into their parent for
 * the same reason. A crashed writer's temporary stays behind under its dot name, which list
 * never shows and no later put reuses (each has a random suffix); sweepTemporaries (a prune's
 * compact) removes those an hour old.
 *
 * Symbolic links: only regular files and real folders inside the root are objects, so nothing
 * read or written through the store can reach outside it. list skips links and anything else
 * that is not a plain file or folder (and dot-files, and names names.ts refuses); get, stat, put
 * and delete of a name whose path meets a link throw BlindsyncError('integrity') naming it,
 * since blindsync never makes one and someone changed the directory. The root itself may be a
 * link. A link swapped in between the check and the open is not caught (Node offers no
 * openat2 RESOLVE_NO_SYMLINKS); the last part of a name is always opened with O_NOFOLLOW.
 *
 * A name cannot be both an object and a folder here (S3 allows "a" and "a/b" side by side):
 * putting one where the other is fails with 'failed'. The pack store's layout never does.
 */
import { randomBytes } from "node:crypto";
import type { Dirent, Stats } from "node:fs";
import {
  chmod,
  constants,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  stat,
  unlink,
} from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BlindsyncError } from "../../errors.js";
import {
  FILE_MODE,
  FOLDER_MODE,
  codeOf,
  fsError,
  isMissing,
  linkError,
  lstatOrUndefined,
  makeRoot,
  notFileError,
  readExactly,
  shortError,
  syncFolder,
  writeParts,
} from "./dir-files.js";
import { checkRange, objectNotFound } from "./memory-object-store.js";
import { checkObjectName, checkObjectPrefix, isObjectName } from "./names.js";
import type { ByteRange, ObjectInfo, ObjectStore } from "./object-store.js";

/** How many files of one folder list() stats at once. */
const STAT_BATCH = 64;

/** The name put gives its temporary file: `.NAME.RANDOM.tmp`, RANDOM 12 hex digits. */
const TEMPORARY_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

export interface DirObjectStoreOptions {
  /** Make the root (and missing parents, 0700) when it does not exist. */
  readonly create: boolean;
}

export class DirObjectStore implements ObjectStore {
  #closed = false;
  /** Folders being made by a put of this store, by path. */
  readonly #making = new Map<string, Promise<void>>();

  private constructor(readonly where: string) {}

  /**
   * Opens the directory at `root`. Throws BlindsyncError('no-repository') when it does not exist
   * and `create` is false.
   */
  static async open(
    root: string,
    options: DirObjectStoreOptions,
  ): Promise<DirObjectStore> {
    const where = resolve(root);
    if (options.create) await makeRoot(where);
    let stats: Stats;
    try {
      stats = await stat(where);
    } catch (error) {
      if (codeOf(error) === "ENOENT" || codeOf(error) === "ENOTDIR")
        throw new BlindsyncError(
          "no-repository",
          `No pack directory at "${where}"`,
          { hint: `Create one with: blindsync init --packs ${where}` },
        );
      throw fsError(`open the pack directory "${where}"`, error);
    }
    if (!stats.isDirectory())
      throw new BlindsyncError(
        "no-repository",
        `"${where}" is not a directory, so it holds no pack repository`,
      );
    return new DirObjectStore(where);
  }

  put(name: string, bytes: Uint8Array): Promise<void> {
    return this.putParts(name, [bytes]);
  }

  /** put() of the parts joined, written as they are (a pack's blobs and trailer: no copy). */
  async putParts(name: string, parts: readonly Uint8Array[]): Promise<void> {
    this.#check(name);
    const segments = name.split("/");
    const base = segments.pop() as string;
    const folder = await this.#makeFolders(segments);
    const temporary = join(
      folder,
      `.${base}.${randomBytes(6).toString("hex")}.tmp`,
    );
    const path = join(folder, base);
    try {
      const handle = await open(
        temporary,
        constants.O_WRONLY |
          constants.O_CREAT |
          constants.O_EXCL |
          constants.O_NOFOLLOW,
        FILE_MODE,
      );
      try {
        await handle.chmod(FILE_MODE);
        await writeParts(handle, parts);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw fsError(`write object ${name} to "${path}"`, error);
    }
    await syncFolder(folder);
  }

  async get(name: string, range?: ByteRange): Promise<Uint8Array> {
    this.#check(name);
    const path = await this.#pathOf(name);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: a FIFO planted under the name must not hang the open.
      handle = await open(
        path,
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      );
    } catch (error) {
      if (isMissing(error)) throw objectNotFound(this.where, name);
      if (codeOf(error) === "ELOOP") throw linkError(path);
      throw fsError(`read object ${name} from "${path}"`, error);
    }
    try {
      const stats = await handle.stat();
      if (stats.isDirectory()) throw objectNotFound(this.where, name);
      if (!stats.isFile()) throw notFileError(path);
      const { offset, length } = range ?? { offset: 0, length: stats.size };
      if (range !== undefined) checkRange(this.where, name, range, stats.size);
      return await readExactly(handle, offset, length, () =>
        shortError(this.where, name, path),
      );
    } catch (error) {
      if (error instanceof BlindsyncError || error instanceof RangeError)
        throw error;
      throw fsError(`read object ${name} from "${path}"`, error);
    } finally {
      await handle.close();
    }
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    this.#check(name);
    const path = await this.#pathOf(name);
    const stats = await lstatOrUndefined(path, `stat object ${name}`);
    if (stats === undefined || stats.isDirectory()) return undefined;
    if (stats.isSymbolicLink()) throw linkError(path);
    if (!stats.isFile()) throw notFileError(path);
    return { name, size: stats.size };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.#assertOpen();
    checkObjectPrefix(prefix);
    // Walk from the longest folder part of the prefix; the rest filters names as strings.
    const folder = prefix.slice(0, prefix.lastIndexOf("/") + 1);
    const folderSegments = folder === "" ? [] : folder.slice(0, -1).split("/");
    // A link on the way lists nothing, as a link met in the walk is skipped.
    if ((await this.#folderState(folderSegments)) !== "folder") return;
    yield* this.#walk(folder, prefix);
  }

  async delete(name: string): Promise<void> {
    this.#check(name);
    const path = await this.#pathOf(name);
    try {
      // unlink removes a link itself, never what it points at. Not fsynced (prune deletes
      // many): a delete lost to a power cut brings back an object the pack store already
      // treats as possibly there (a superseded segment, an unindexed pack, a lease that
      // runs out), never one it needs.
      await unlink(path);
    } catch (error) {
      // EISDIR: a folder is not an object, so there is no object of that name to delete.
      if (isMissing(error) || codeOf(error) === "EISDIR") return;
      throw fsError(`delete object ${name} at "${path}"`, error);
    }
  }

  async sweepTemporaries(olderThanMs: number): Promise<number> {
    this.#assertOpen();
    const before = Date.now() - olderThanMs;
    let removed = 0;
    const sweep = async (folder: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw fsError(`list "${folder}"`, error);
      }
      for (const entry of entries) {
        const path = join(folder, entry.name);
        // A link is neither: nothing outside the root is looked at, let alone removed.
        if (entry.isDirectory()) await sweep(path);
        if (!entry.isFile() || !TEMPORARY_NAME.test(entry.name)) continue;
        const stats = await lstatOrUndefined(path, "look at a temporary file");
        if (stats?.isFile() !== true || stats.mtimeMs > before) continue;
        try {
          await unlink(path);
          removed++;
        } catch (error) {
          if (!isMissing(error))
            throw fsError(`remove the temporary file "${path}"`, error);
        }
      }
    };
    await sweep(this.where);
    return removed;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Files and folders under `folder` (a name part ending in "/", or ""), matching `prefix`. */
  async *#walk(folder: string, prefix: string): AsyncGenerator<ObjectInfo> {
    const path = join(this.where, folder);
    let entries: string[];
    try {
      entries = await readdir(path);
    } catch (error) {
      // Gone, or turned into a file, while listing: nothing of it to list.
      if (isMissing(error)) return;
      throw fsError(`list "${path}"`, error);
    }
    // isObjectName leaves out dot-files (temporaries, anything hidden) and names no put made.
    const candidates = entries
      .map((entry) => folder + entry)
      .filter(
        (name) =>
          isObjectName(name) &&
          (name.startsWith(prefix) || prefix.startsWith(`${name}/`)),
      );
    for (let at = 0; at < candidates.length; at += STAT_BATCH) {
      const batch = candidates.slice(at, at + STAT_BATCH);
      const stats = await Promise.all(
        batch.map((name) =>
          lstatOrUndefined(join(this.where, name), `list object ${name}`),
        ),
      );
      for (const [i, name] of batch.entries()) {
        const info = stats[i];
        if (info?.isFile() === true && name.startsWith(prefix))
          yield { name, size: info.size };
        else if (info?.isDirectory() === true)
          yield* this.#walk(`${name}/`, prefix);
      }
    }
  }

  /**
   * Makes the folders of a name that are missing, 0700, each fsynced into its parent. Puts
   * racing into a new folder wait for the one making it, so none resolves before the folder's
   * name is durable.
   */
  async #makeFolders(segments: readonly string[]): Promise<string> {
    let parent = this.where;
    for (const segment of segments) {
      const folder = join(parent, segment);
      let making = this.#making.get(folder);
      if (making === undefined) {
        making = this.#makeFolder(parent, folder).finally(() =>
          this.#making.delete(folder),
        );
        this.#making.set(folder, making);
      }
      await making;
      parent = folder;
    }
    return parent;
  }

  async #makeFolder(parent: string, folder: string): Promise<void> {
    try {
      await mkdir(folder, { mode: FOLDER_MODE });
      await chmod(folder, FOLDER_MODE);
      await syncFolder(parent);
      return;
    } catch (error) {
      if (codeOf(error) !== "EEXIST")
        throw fsError(`create the folder "${folder}"`, error);
    }
    const stats = await lstat(folder).catch((error: unknown) => {
      throw fsError(`create the folder "${folder}"`, error);
    });
    if (stats.isSymbolicLink()) throw linkError(folder);
    if (!stats.isDirectory())
      throw new BlindsyncError(
        "failed",
        `Cannot make the folder "${folder}": an object of that name is in the way`,
      );
  }

  /**
   * The file of a name, after checking that none of its folders is a link (integrity), so
   * nothing is read, written or deleted through one.
   */
  async #pathOf(name: string): Promise<string> {
    const state = await this.#folderState(name.split("/").slice(0, -1));
    if (typeof state === "object") throw linkError(state.symlink);
    return join(this.where, name);
  }

  /** Whether the folders below the root exist as real folders, or where a link is among them. */
  async #folderState(
    segments: readonly string[],
  ): Promise<"folder" | "missing" | { readonly symlink: string }> {
    let folder = this.where;
    for (const segment of segments) {
      folder = join(folder, segment);
      const stats = await lstatOrUndefined(folder, "open the folder");
      if (stats?.isSymbolicLink() === true) return { symlink: folder };
      if (stats?.isDirectory() !== true) return "missing";
    }
    return "folder";
  }

  #check(name: string): void {
    this.#assertOpen();
    checkObjectName(name);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("DirObjectStore used after close");
  }
}
