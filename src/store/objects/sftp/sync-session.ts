/**
 * A second sftp session whose only job is fsync@openssh.com of finished large objects, so that
 * the session that uploads never waits for the server's disk.
 *
 * OpenSSH's sftp-server answers one request at a time: while it is in fsync(2) of an 8 MiB
 * pack (about 50 ms on the benchmark's disk; a first backup of its corpus stores 1.2 GiB), it
 * reads nothing, the WRITEs of the next pack back up through ssh, and the whole upload stands
 * still. In a second sftp-server process the fsync of one pack runs while the first process
 * keeps writing the next, so the disk's work overlaps the network's and the CPU's instead of
 * adding to them. The guarantee is the same as with fsync in the uploading session: the
 * temporary file is synced (through a handle of its own: fsync(2) flushes the file, whichever
 * descriptor asks) before it is renamed to its name.
 *
 * The session is opened by the same ssh command line, so ~/.ssh/config, agents and keys work
 * as for the first; with `-o BatchMode=yes` when the program is OpenSSH's ssh, so that it never
 * asks for a password in the middle of a backup (the first session already settled the host
 * key). When it cannot be opened, or is lost later, the store syncs in the uploading session
 * as before: the second session is a speed-up, never a new way to fail.
 */

import { SftpClient, SftpStatusError } from "./client.js";
import { OpenFlag } from "./codec.js";
import { SshSftpProcess, type SftpEndpoint } from "./ssh-process.js";

export class SyncSession {
  #client: SftpClient | undefined;
  #lost = false;
  /** Resolves true once the session is up and the server offers fsync@openssh.com. */
  readonly ready: Promise<boolean>;

  private constructor(
    private readonly ssh: SshSftpProcess,
    where: string,
  ) {
    this.ready = SftpClient.start(ssh.transport, { where }).then(
      (client) => {
        if (!client.hasExtension("fsync@openssh.com")) {
          client.end();
          return false;
        }
        this.#client = client;
        return true;
      },
      () => false,
    );
  }

  /**
   * Starts ssh for the second session (see ready); undefined when ssh cannot be spawned.
   * Nothing is reported either way, and ssh's stderr is never shown: the caller syncs in its
   * own session instead.
   */
  static start(endpoint: SftpEndpoint, where: string): SyncSession | undefined {
    try {
      const ssh = SshSftpProcess.spawn(
        { ...endpoint, onStderr: undefined },
        { batch: true },
      );
      return new SyncSession(ssh, where);
    } catch {
      return undefined;
    }
  }

  /** Up, and not lost since. */
  get usable(): boolean {
    return this.#client !== undefined && !this.#lost;
  }

  /** The ssh process id, for tests. */
  get pid(): number | undefined {
    return this.ssh.pid;
  }

  /**
   * fsync(2) of the file at `path` (closed, or still open in another session). A status from
   * the server (the file is gone, say) is thrown as it is; any other failure ends this
   * session's use (usable turns false) and is thrown too, for the caller to sync elsewhere.
   */
  async sync(path: string): Promise<void> {
    const client = this.#client;
    if (client === undefined || this.#lost)
      throw new Error("SyncSession.sync() on a session that is not usable");
    try {
      const handle = await client.open(path, OpenFlag.READ);
      try {
        await client.fsync(handle, path);
      } finally {
        // Not awaited: a read-only handle's close loses nothing when it fails.
        client.close(handle, path).catch(() => undefined);
      }
    } catch (error) {
      if (!(error instanceof SftpStatusError)) this.#lost = true;
      throw error;
    }
  }

  /** Ends the session, also while it is still starting. */
  async close(): Promise<void> {
    this.#lost = true;
    this.#client?.end();
    await this.ssh.stop();
  }
}
