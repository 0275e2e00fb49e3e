/**
 * The ObjectStore on an sftp server that runs nothing of ours (OpenSSH's sftp-server, a
 * storage box): one ssh session, one SFTP client, objects as files under a root folder.
 *
 * put writes `.tmp-RANDOM` beside the target, syncs it (fsync@openssh.com), then renames it
 * over the name with posix-rename@openssh.com, so a reader sees the old object or the new one,
 * never a part. Folders are made as needed (0700), files owner-only (0600). Once a store has
 * put SYNC_SESSION_AFTER_BYTES in large objects (a first backup, not a small change), large
 * objects are synced in a second session (sync-session.ts) while this one uploads the next.
 *
 * Length: over 400 lines with one job, the ObjectStore over SFTP: each method's mapping of SFTP
 * statuses to the interface's errors sits beside it (listing and transfers live apart).
 */

import { randomBytes } from "node:crypto";
import { BlindsyncError, isBlindsyncError } from "../../../errors.js";
import { checkRange, objectNotFound } from "../memory-object-store.js";
import { checkObjectName, checkObjectPrefix } from "../names.js";
import type {
  ByteRange,
  GetOptions,
  ObjectInfo,
  ObjectStore,
} from "../object-store.js";
import { SftpClient, SftpStatusError } from "./client.js";
import {
  isDirectory,
  isRegularFile,
  isSymlink,
  OpenFlag,
  Status,
  type Attrs,
} from "./codec.js";
import { KeptHandles, type OpenedObject } from "./kept-handles.js";
import { listObjects, sweepTemporaries } from "./listing.js";
import { SshSftpProcess, type SftpEndpoint } from "./ssh-process.js";
import { SyncSession } from "./sync-session.js";
import { readRange, writeAll } from "./transfers.js";

export interface SftpObjectStoreOptions extends SftpEndpoint {
  /**
   * The root folder: relative to the login directory (as sftp takes it), or absolute. A
   * leading "~/" means the login directory too.
   */
  readonly path: string;
  /** Make the root folder (and its parents) when missing, as `init` does. */
  readonly create: boolean;
  /** When to open the sync session (SYNC_SESSION_AFTER_BYTES); Infinity never does. */
  readonly syncSessionAfterBytes?: number;
}

const FILE_MODE = 0o600;
const FOLDER_MODE = 0o700;

/**
 * Objects at least this large (packs) are synced in the sync session once it is up; smaller
 * ones (segments, leases, snapshots) in this session, where their short fsync costs fewer
 * round trips than a hop to the other session would.
 */
export const SYNC_SESSION_MIN_OBJECT = 1024 * 1024;
/**
 * The large objects' bytes after which the sync session is opened: a second ssh connection
 * costs about a quarter of a second and some CPU on both ends, more than the fsync stalls of a
 * small change's few packs.
 */
export const SYNC_SESSION_AFTER_BYTES = 32 * 1024 * 1024;

export class SftpObjectStore implements ObjectStore {
  private closed = false;
  /** Bytes put in objects of at least SYNC_SESSION_MIN_OBJECT. */
  private largeBytes = 0;
  /** The second session, once started (it may still be starting, or have failed). */
  private syncSession: SyncSession | undefined;
  /** Read handles of unchanging objects, kept between ranged gets (kept-handles.ts). */
  private readonly keptHandles = new KeptHandles((opened, path) => {
    this.client.close(opened.handle, path).catch(() => undefined);
  });

  private constructor(
    readonly where: string,
    private readonly root: string,
    private readonly client: SftpClient,
    private readonly ssh: SshSftpProcess,
    private readonly options: SftpObjectStoreOptions,
  ) {}

  /**
   * Connects and checks the root folder. Throws BlindsyncError('no-repository') when it is
   * missing and `create` is false, and one clear 'failed' when ssh cannot connect or the
   * server has no sftp.
   */
  static async open(options: SftpObjectStoreOptions): Promise<SftpObjectStore> {
    const where = formatSftpWhere(options);
    const root = rootPath(options.path);
    const ssh = SshSftpProcess.spawn(options);
    let started = false;
    let client: SftpClient;
    try {
      client = await SftpClient.start(ssh.transport, {
        where,
        describeLoss: () => {
          // A session lost midway: ssh's last words follow once it has exited.
          if (started) void ssh.showStderr();
          return ssh.describeExit();
        },
      });
      started = true;
    } catch (error) {
      await ssh.stop();
      // Explained before ssh's stderr is shown, so that the line the message quotes is not
      // shown again.
      const explained =
        isBlindsyncError(error) && error.kind === "protocol"
          ? new BlindsyncError(error.kind, error.message, {
              cause: error,
              hint: "A login script on the server that prints text breaks sftp: check that `ssh HOST true` prints nothing",
            })
          : ssh.explainStartFailure(error, where);
      await ssh.showStderr();
      throw explained;
    }
    const store = new SftpObjectStore(where, root, client, ssh, options);
    try {
      await store.checkRoot(options.create);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  put(name: string, bytes: Uint8Array): Promise<void> {
    return this.putParts(name, [bytes]);
  }

  /** put() of the parts joined, each sent as it is (a pack's blobs and trailer, say). */
  async putParts(name: string, parts: readonly Uint8Array[]): Promise<void> {
    this.checkOpen();
    checkObjectName(name);
    const target = this.pathOf(name);
    const folder = target.slice(0, target.lastIndexOf("/"));
    const temporary = `${folder}/.tmp-${randomBytes(8).toString("hex")}`;
    const flags =
      OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.EXCL | OpenFlag.TRUNC;
    const canSync = this.client.hasExtension("fsync@openssh.com");
    const size = parts.reduce((sum, part) => sum + part.length, 0);
    const elsewhere = canSync ? this.syncSessionFor(size) : undefined;
    let handle: Uint8Array;
    try {
      handle = await this.client.open(temporary, flags, FILE_MODE);
    } catch (error) {
      if (!isStatus(error, Status.NO_SUCH_FILE)) throw error;
      await this.makeFolders(name);
      handle = await this.client.open(temporary, flags, FILE_MODE);
    }
    try {
      try {
        await writeAll(this.client, handle, temporary, parts);
        if (canSync && elsewhere === undefined)
          await this.client.fsync(handle, temporary);
      } finally {
        await this.client.close(handle, temporary);
      }
      if (elsewhere !== undefined)
        await this.syncElsewhere(elsewhere, temporary);
      await this.replace(temporary, target);
    } catch (error) {
      await this.client.remove(temporary).catch(() => undefined);
      throw error;
    }
  }

  async get(
    name: string,
    range?: ByteRange,
    options?: GetOptions,
  ): Promise<Uint8Array> {
    this.checkOpen();
    checkObjectName(name);
    // A malformed range is refused before any request (RangeError), as on every backend.
    if (range !== undefined) checkRange(this.where, name, range, Infinity);
    const path = this.pathOf(name);
    const open = (): Promise<OpenedObject> => this.openForReading(name, path);
    if (range !== undefined && options?.unchanging === true)
      return await this.keptHandles.with(path, open, (opened) =>
        this.readOpened(name, path, opened, range),
      );
    const opened = await open();
    try {
      return await this.readOpened(name, path, opened, range);
    } finally {
      // Not awaited: nothing is read through the handle after this, and a failed close of a
      // read-only file loses nothing. Its reply is still taken, so nothing goes unhandled.
      this.client.close(opened.handle, path).catch(() => undefined);
    }
  }

  /** OPEN for reading, and its FSTAT sent right after (its answer comes beside the READs). */
  private async openForReading(
    name: string,
    path: string,
  ): Promise<OpenedObject> {
    let handle: Uint8Array;
    try {
      handle = await this.client.open(path, OpenFlag.READ);
    } catch (error) {
      if (isStatus(error, Status.NO_SUCH_FILE))
        throw objectNotFound(this.where, name);
      throw error;
    }
    const size = this.client.fstat(handle, path).then((attrs) => {
      // A folder opens for reading too; it is not an object of that name.
      if (!isRegularFile(attrs)) throw objectNotFound(this.where, name);
      return sizeOf(attrs, path);
    });
    size.catch(() => undefined); // awaited by each get
    return { handle, size };
  }

  /** The whole object, or `range` of it, through an open handle. */
  private async readOpened(
    name: string,
    path: string,
    { handle, size }: OpenedObject,
    range: ByteRange | undefined,
  ): Promise<Uint8Array> {
    if (range === undefined) {
      const length = await size;
      const bytes = await readRange(this.client, handle, path, 0, length);
      // The handle holds the file a rename cannot swap, so a short read is a cut file.
      checkRange(this.where, name, { offset: 0, length }, bytes.length);
      return bytes;
    }
    // The size is asked beside the reads, not before them: one round trip, not two.
    const reading = readRange(
      this.client,
      handle,
      path,
      range.offset,
      range.length,
    );
    reading.catch(() => undefined); // awaited below unless the size fails first
    checkRange(this.where, name, range, await size);
    const bytes = await reading;
    if (bytes.length !== range.length)
      checkRange(this.where, name, range, range.offset + bytes.length);
    return bytes;
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    checkObjectName(name);
    const path = this.pathOf(name);
    let attrs: Attrs;
    try {
      attrs = await this.client.stat(path);
    } catch (error) {
      if (isStatus(error, Status.NO_SUCH_FILE)) return undefined;
      throw error;
    }
    // A folder such as "packs" is not an object of that name.
    if (!isRegularFile(attrs)) return undefined;
    return { name, size: sizeOf(attrs, path) };
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    this.checkOpen();
    checkObjectPrefix(prefix);
    return listObjects(this.client, this.root, prefix);
  }

  async delete(name: string): Promise<void> {
    this.checkOpen();
    checkObjectName(name);
    try {
      await this.client.remove(this.pathOf(name));
    } catch (error) {
      if (!isStatus(error, Status.NO_SUCH_FILE)) throw error;
    }
  }

  sweepTemporaries(olderThanMs: number): Promise<number> {
    this.checkOpen();
    return sweepTemporaries(
      this.client,
      this.root,
      Math.floor((Date.now() - olderThanMs) / 1000),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.keptHandles.clear(); // closed with the session
    this.client.end();
    await Promise.all([this.ssh.stop(), this.syncSession?.close()]);
  }

  /** The ssh process id, for tests that check nothing is left running. */
  get sshPid(): number | undefined {
    return this.ssh.pid;
  }

  /** The sync session's ssh process id once it was started, for tests. */
  get syncSshPid(): number | undefined {
    return this.syncSession?.pid;
  }

  /**
   * The session to sync an object of `size` bytes in, when not this one: counts large objects,
   * starts the sync session once they pass the threshold (without waiting for it: objects put
   * while it starts are synced here), and returns it once it is usable.
   */
  private syncSessionFor(size: number): SyncSession | undefined {
    if (size < SYNC_SESSION_MIN_OBJECT) return undefined;
    this.largeBytes += size;
    const after =
      this.options.syncSessionAfterBytes ?? SYNC_SESSION_AFTER_BYTES;
    if (this.syncSession === undefined && this.largeBytes >= after)
      this.syncSession = SyncSession.start(this.options, this.where);
    return this.syncSession?.usable === true ? this.syncSession : undefined;
  }

  /** Syncs `path` in the sync session, or here when that session has just been lost. */
  private async syncElsewhere(
    session: SyncSession,
    path: string,
  ): Promise<void> {
    try {
      await session.sync(path);
      return;
    } catch (error) {
      if (session.usable) throw error; // the server's answer about this file
    }
    const handle = await this.client.open(path, OpenFlag.READ);
    try {
      await this.client.fsync(handle, path);
    } finally {
      await this.client.close(handle, path);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("SftpObjectStore used after close");
  }

  private pathOf(name: string): string {
    return `${this.root}/${name}`;
  }

  /**
   * Renames the finished temporary file over `target`. posix-rename@openssh.com is rename(2):
   * atomic, replacing any old object. Without it (a server that is not OpenSSH) the old object
   * is removed first, since SSH_FXP_RENAME refuses to replace; between the two a reader finds
   * no object, and a crash there loses the old one, so this is weaker. The pack store writes
   * content-addressed names that are rarely replaced, which keeps that window rare.
   */
  private async replace(temporary: string, target: string): Promise<void> {
    if (this.client.hasExtension("posix-rename@openssh.com")) {
      await this.client.posixRename(temporary, target);
      return;
    }
    try {
      await this.client.remove(target);
    } catch (error) {
      if (!isStatus(error, Status.NO_SUCH_FILE)) throw error;
    }
    await this.client.rename(temporary, target);
  }

  /**
   * Makes each missing folder of `name` under the root. The innermost first: its parent is
   * usually there (packs/ for a first pack in packs/XX), so one MKDIR does, where making them
   * outermost first cost a failed MKDIR and a STAT of the parent too, for each of a first
   * backup's 256 pack folders. Only when the parent is missing are the outer ones made.
   */
  private async makeFolders(name: string): Promise<void> {
    const segments = name.split("/").slice(0, -1);
    if (segments.length === 0) return;
    const innermost = this.pathOf(segments.join("/"));
    try {
      await this.makeFolder(innermost);
      return;
    } catch (error) {
      if (segments.length === 1 || !isStatus(error, Status.NO_SUCH_FILE))
        throw error;
    }
    for (let i = 1; i <= segments.length; i++)
      await this.makeFolder(this.pathOf(segments.slice(0, i).join("/")));
  }

  /** mkdir that tolerates a folder made meanwhile (by a concurrent put, say). */
  private async makeFolder(path: string): Promise<void> {
    try {
      await this.client.mkdir(path, FOLDER_MODE);
    } catch (error) {
      // A missing parent (NO_SUCH_FILE) is the caller's to mend.
      if (isStatus(error, Status.NO_SUCH_FILE)) throw error;
      // SFTP v3 has no "already exists" status: OpenSSH answers FAILURE. Look before failing.
      const attrs = await this.client.stat(path).catch(() => undefined);
      if (attrs === undefined || !isDirectory(attrs)) throw error;
    }
  }

  private async checkRoot(create: boolean): Promise<void> {
    let attrs: Attrs | undefined;
    try {
      attrs = await this.client.stat(this.root);
    } catch (error) {
      if (!isStatus(error, Status.NO_SUCH_FILE)) throw error;
    }
    if (attrs === undefined) {
      if (!create)
        throw new BlindsyncError(
          "no-repository",
          `No repository at "${this.where}"`,
          { hint: `Create one with: blindsync init ${this.where}` },
        );
      const parts = this.root.split("/");
      for (let i = 1; i <= parts.length; i++) {
        const path = parts.slice(0, i).join("/");
        // "" is the filesystem root of an absolute path, "." the login directory.
        if (path !== "" && path !== ".") await this.makeFolder(path);
      }
      return;
    }
    if (!isDirectory(attrs) && !isSymlink(attrs))
      throw new BlindsyncError(
        "failed",
        `"${this.where}" is not a folder on the sftp server`,
        { hint: "Give the path of a folder (or of one to create)" },
      );
  }
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof SftpStatusError && error.status === status;
}

function sizeOf(attrs: Attrs, path: string): number {
  if (attrs.size === undefined)
    throw new BlindsyncError(
      "protocol",
      `The sftp server did not report the size of "${path}"`,
    );
  return attrs.size;
}

/**
 * The root as the server should see it: "~/x" and "x" are both relative to the login
 * directory (sftp-server starts there), trailing slashes dropped.
 */
export function rootPath(path: string): string {
  let root = path;
  if (root === "~") root = ".";
  else if (root.startsWith("~/")) root = root.slice(2);
  while (root.length > 1 && root.endsWith("/")) root = root.slice(0, -1);
  if (root === "" || root === "/")
    throw new BlindsyncError(
      "usage",
      `The sftp repository path "${path}" names no folder of its own`,
      { hint: "Give a folder, as in sftp:host:backups" },
    );
  return root;
}

/** Where the objects are, as a user would type it: "sftp:me@host:vault", holding no secret. */
export function formatSftpWhere(options: {
  readonly host: string;
  readonly user?: string | undefined;
  readonly port?: number | undefined;
  readonly path: string;
}): string {
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const user = options.user === undefined ? "" : `${options.user}@`;
  if (options.port === undefined) return `sftp:${user}${host}:${options.path}`;
  const path = options.path.startsWith("/")
    ? options.path
    : `/~/${options.path.replace(/^~\//, "")}`;
  return `sftp://${user}${host}:${options.port}${path}`;
}
