/**
 * The system ssh asked for the `sftp` subsystem (`ssh ... -s [user@]host sftp`), as restic and
 * rclone reach an sftp server: ~/.ssh/config, agents, jump hosts and keys work, and nothing but
 * the server's own sftp-server runs remotely. The command line is built by store/remote/ssh.ts,
 * so --ssh / BLINDSYNC_SSH replace it exactly as they do for `serve`.
 */

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { BlindsyncError } from "../../../errors.js";
import { childEnvironment } from "../../../util/child-env.js";
import { cpuHasAes } from "../../../util/cpu-features.js";
import {
  sshDestination,
  sshOptionArguments,
  sshSpawnError,
} from "../../remote/ssh.js";
import type { SftpTransport } from "./client.js";

export interface SftpEndpoint {
  readonly host: string;
  readonly user?: string | undefined;
  readonly port?: number | undefined;
  /** The ssh command line (--ssh / BLINDSYNC_SSH); default "ssh". */
  readonly sshCommand?: string | undefined;
  /**
   * Receives the lines ssh wrote to stderr (its last 20), only when the session fails: a
   * working session's notices ("Warning: Permanently added ...") would only be noise.
   */
  readonly onStderr?: ((line: string) => void) | undefined;
}

/**
 * ssh is started with SIGINT ignored. A terminal's Ctrl-C reaches the whole foreground process
 * group; an ssh that died of it took the session with it, so the interrupted client could not
 * delete its lease and a prune waited for the lease to run out. OpenSSH leaves an inherited
 * SIG_IGN for SIGINT as it is (clientloop.c), so the session stays up while the client
 * releases its lease, then ends when the client closes ssh's input (or dies: the pipe closes).
 * Not a detached ssh (setsid), as the brief first suggested: that drops the controlling
 * terminal, and ssh could no longer ask for a password or a host key confirmation there
 * (restic instead moves ssh to a process group of its own and hands it the terminal with
 * tcsetpgrp, which Node cannot do). Node resets signal dispositions in a child, hence the
 * shell: its `trap ""` survives the exec. `command -v` first tells a missing ssh command apart.
 */
const IGNORE_SIGINT_AND_EXEC =
  'trap "" INT; command -v "$0" >/dev/null 2>&1 || { echo "$0: command not found" >&2; exit 127; }; exec "$0" "$@"';
/** What the shell above says and exits with when the ssh command does not exist. */
const NOT_FOUND_STATUS = 127;

/** How long stop() waits for ssh to exit after its input ends before killing it. */
const EXIT_GRACE_MS = 5000;
/** How many stderr lines are kept to explain a failure. */
const STDERR_LINES_KEPT = 20;

export interface SpawnOptions {
  /**
   * Never ask the user anything (`-o BatchMode=yes`, only when the program is OpenSSH's
   * `ssh`): for a second session opened in the middle of a command (sync-session.ts).
   */
  readonly batch?: boolean;
  /**
   * Ask for AES-GCM first (store/remote/ssh-ciphers.ts: never over ciphers the user chose);
   * by default when this CPU has AES instructions. Over sftp nothing says whether the
   * server's CPU has them too (a `serve` says so in its hello), so this end decides, as the
   * SSH clients built into rclone and kopia do (Go's x/crypto/ssh puts aes128-gcm first):
   * chacha20-poly1305 costs about twice AES-GCM's CPU on each side where both have AES
   * instructions (docs/performance.md, "The ssh cipher over sftp"), and a server without them
   * is rare among the machines people back up to; `--ssh "ssh -c ..."` or a Ciphers line in
   * ssh's configuration overrides it.
   */
  readonly preferAesGcm?: boolean;
}

/** The argv that reaches the sftp subsystem of `endpoint` (exported for tests). */
export function sftpSshArguments(
  endpoint: SftpEndpoint,
  options: SpawnOptions = {},
): string[] {
  const [program, ...rest] = sshOptionArguments(
    endpoint,
    endpoint.sshCommand,
    options.preferAesGcm ?? cpuHasAes(),
  );
  if (program === undefined)
    throw new TypeError("sshOptionArguments() returned nothing");
  // Right after the program: ssh keeps the first value it is given for an option.
  const batch =
    options.batch === true && basename(program) === "ssh"
      ? ["-o", "BatchMode=yes"]
      : [];
  // -s before the destination: OpenSSH also takes it after, but a wrapper script might not.
  return [program, ...batch, ...rest, "-s", sshDestination(endpoint), "sftp"];
}

export class SshSftpProcess {
  private readonly stderrLines: string[] = [];
  private stderrShown = false;
  /**
   * The stderr line an error message already quotes (describeExit, explainStartFailure), so
   * showStderr does not print it a second time.
   */
  private quoted: string | undefined;
  private spawnError: Error | undefined;
  private exit: { code: number | null; signal: string | null } | undefined;
  private readonly exited: Promise<void>;
  private readonly stderrDone: Promise<void>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly endpoint: SftpEndpoint,
  ) {
    this.stderrDone = new Promise<void>((resolve) => {
      const lines = createInterface({
        input: child.stderr,
        crlfDelay: Infinity,
      });
      lines.on("line", (line) => {
        this.stderrLines.push(line);
        if (this.stderrLines.length > STDERR_LINES_KEPT)
          this.stderrLines.shift();
      });
      lines.on("close", resolve);
    });
    this.exited = new Promise<void>((resolve) => {
      child.on("error", (error) => {
        this.spawnError = error;
        this.exit ??= { code: null, signal: null };
        resolve();
      });
      child.on("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
  }

  static spawn(
    endpoint: SftpEndpoint,
    options: SpawnOptions = {},
  ): SshSftpProcess {
    const [command, ...args] = sftpSshArguments(endpoint, options);
    if (command === undefined)
      throw new TypeError("sftpSshArguments() returned nothing");
    // Without our passphrases: ssh hands its environment to a ProxyCommand, and to the server
    // for every variable a SendEnv pattern matches (util/child-env.ts).
    const child = spawn(
      "/bin/sh",
      ["-c", IGNORE_SIGINT_AND_EXEC, command, ...args],
      { stdio: ["pipe", "pipe", "pipe"], env: childEnvironment() },
    );
    return new SshSftpProcess(child, endpoint);
  }

  get transport(): SftpTransport {
    return { readable: this.child.stdout, writable: this.child.stdin };
  }

  /** The process id, for tests that check nothing is left running. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Why ssh ended, once it has: its status and the last line it wrote to stderr. */
  describeExit(): string | undefined {
    if (this.exit === undefined) return undefined;
    const status =
      this.exit.signal !== null
        ? `ssh was killed by ${this.exit.signal}`
        : `ssh exited with status ${String(this.exit.code)}`;
    const last = this.lastLine();
    if (last === undefined) return status;
    this.quoted = last;
    return `${status} (${last})`;
  }

  /**
   * Hands the kept stderr lines to onStderr, once, when the session failed: after ssh has
   * exited and its stderr has been read to the end. The line an error message quotes is left
   * out: the user would read it twice.
   */
  async showStderr(): Promise<void> {
    await this.exited;
    await this.stderrDone;
    if (this.stderrShown) return;
    this.stderrShown = true;
    const lines = [...this.stderrLines];
    const quoted = lines.findLastIndex((line) => line.trim() === this.quoted);
    if (quoted >= 0) lines.splice(quoted, 1);
    for (const line of lines) this.endpoint.onStderr?.(line);
  }

  /** Ends ssh's input, waits for it to exit (killing it after a grace period). */
  async stop(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGTERM"), EXIT_GRACE_MS);
    try {
      await this.exited;
      await this.stderrDone;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Why no sftp session came up, as one clear error: ssh could not run, could not connect, or
   * the server has no sftp subsystem. Call after stop().
   */
  explainStartFailure(cause: unknown, where: string): BlindsyncError {
    const sshCommand = this.endpoint.sshCommand ?? "ssh";
    if (this.spawnError !== undefined)
      return sshSpawnError(sshCommand, this.spawnError);
    const last = this.lastLine();
    if (
      this.exit?.code === NOT_FOUND_STATUS &&
      last?.endsWith(": command not found") === true
    )
      return sshSpawnError(sshCommand, new Error("command not found"));
    this.quoted = last;
    const said = last === undefined ? "" : `: ${last}`;
    const destination = sshDestination(this.endpoint);
    // The port, when REPO gave one (sftp://host:port/path), belongs in every command we suggest.
    const { port } = this.endpoint;
    const shown =
      port === undefined
        ? `"${destination}"`
        : `"${destination}" (port ${port})`;
    const ssh =
      port === undefined
        ? `ssh ${destination}`
        : `ssh -p ${port} ${destination}`;
    const sftp =
      port === undefined
        ? `sftp ${destination}`
        : `sftp -P ${port} ${destination}`;
    if (this.stderrLines.some((line) => /subsystem request failed/i.test(line)))
      return new BlindsyncError(
        "failed",
        `The server ${shown} offers no sftp subsystem, so ${where} cannot be reached${said}`,
        {
          cause,
          hint: "Enable sftp on the server (Subsystem sftp in sshd_config), or use blindsync serve",
        },
      );
    if (this.exit?.code === 255)
      return new BlindsyncError(
        "failed",
        `Cannot connect to ${shown} with ssh to reach ${where}${said}`,
        {
          cause,
          hint: `Check the host name, port and keys by running: ${ssh}`,
        },
      );
    const status =
      this.exit === undefined
        ? "did not start an sftp session"
        : this.exit.code === null
          ? "was killed"
          : `exited with status ${this.exit.code}`;
    return new BlindsyncError(
      "failed",
      `ssh to ${shown} ${status} before the sftp server answered, so ${where} cannot be reached${said}`,
      {
        cause,
        hint: `Check that "${sftp}" works from this machine`,
      },
    );
  }

  private lastLine(): string | undefined {
    return this.stderrLines
      .filter((line) => line.trim() !== "")
      .at(-1)
      ?.trim();
  }
}
