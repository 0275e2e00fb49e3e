/**
 * A real OpenSSH sshd on 127.0.0.1 that a test starts for itself: its own config, host key,
 * client key, known_hosts and authorized_keys in a temporary directory, on a free port. Nothing
 * outside that directory is read or changed, except the privilege separation directory
 * /run/sshd that sshd insists on.
 *
 * When sshd is not installed the start fails with a clear message (CI installs openssh-server);
 * it never skips silently.
 */

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const SSHD_PATH = "/usr/sbin/sshd";

export interface Sshd {
  readonly port: number;
  /** A complete ssh command line for --ssh / BLINDSYNC_SSH (its own config, key, known_hosts). */
  readonly sshCommand: string;
  readonly user: string;
  readonly homeDir: string;
  /** The temporary directory holding every file of this sshd. */
  readonly dir: string;
  readonly authorizedKeysPath: string;
  /** The client's public key line, as it stands in authorized_keys. */
  readonly publicKey: string;
  /**
   * Rewrites authorized_keys so that the client key may only run `command` (a forced command,
   * with `restrict`); undefined restores a plain key that runs whatever the client asks.
   */
  setForcedCommand(command: string | undefined): Promise<void>;
  /** Everything sshd has logged so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<Sshd> {
  if (!existsSync(SSHD_PATH))
    throw new Error(
      `${SSHD_PATH} is not installed: the ssh integration tests need OpenSSH's server (apt-get install -y openssh-server)`,
    );
  const dir = await mkdtemp(join(tmpdir(), "blindsync-sshd-"));
  // sshd refuses to start without its privilege separation directory.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKey = join(dir, "host_ed25519");
  const clientKey = join(dir, "client_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
  const publicKey = (await readFile(`${clientKey}.pub`, "utf8")).trim();
  const hostPublicKey = (await readFile(`${hostKey}.pub`, "utf8")).trim();
  const authorizedKeysPath = join(dir, "authorized_keys");
  await writeFile(authorizedKeysPath, `${publicKey}\n`, { mode: 0o600 });

  const user = userInfo().username;
  const homeDir = userInfo().homedir;
  const pidFile = join(dir, "sshd.pid");
  const config = join(dir, "sshd_config");
  const writeServerConfig = async (port: number): Promise<void> => {
    await writeFile(
      config,
      [
        `ListenAddress 127.0.0.1`,
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${pidFile}`,
        `AuthorizedKeysFile ${authorizedKeysPath}`,
        // The temporary directory's modes are not what sshd expects of a home directory.
        `StrictModes no`,
        `UsePAM no`,
        `PasswordAuthentication no`,
        `KbdInteractiveAuthentication no`,
        `PubkeyAuthentication yes`,
        // Tests run as root in CI containers.
        `PermitRootLogin prohibit-password`,
        `AllowUsers ${user}`,
        `LogLevel VERBOSE`,
        // Keep the test environment's PATH and HOME out of the picture: commands use absolute paths.
        `PermitUserEnvironment no`,
        // Debian's bash sources ~/.bashrc for every ssh command when SHLVL is unset, and this
        // machine's root .bashrc runs pyenv (about 1.5 s a connection). SHLVL=1 skips it, as a
        // server with a plain .bashrc would; blindsync itself never depends on it.
        `SetEnv SHLVL=1`,
        `Subsystem sftp internal-sftp`,
        "",
      ].join("\n"),
    );
    await chmod(config, 0o600);
  };

  // Test files run in parallel: a port free when asked can be taken by another file's sshd
  // before this one binds it, so a bind failure is retried on a new port.
  let daemon: Launched | undefined;
  let port = 0;
  for (let attempt = 1; daemon === undefined; attempt += 1) {
    port = await freePort();
    await writeServerConfig(port);
    try {
      daemon = await launch(config, port);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 5) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  const { exited, log } = daemon;

  const knownHosts = join(dir, "known_hosts");
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  const clientConfig = join(dir, "ssh_config");
  await writeFile(
    clientConfig,
    [
      `Host *`,
      // The port lives here, so `127.0.0.1:path` reaches this sshd and ssh:// can override it.
      `  Port ${port}`,
      `  IdentityFile ${clientKey}`,
      `  IdentitiesOnly yes`,
      `  UserKnownHostsFile ${knownHosts}`,
      `  GlobalKnownHostsFile /dev/null`,
      `  StrictHostKeyChecking yes`,
      `  BatchMode yes`,
      `  LogLevel ERROR`,
      `  ConnectTimeout 10`,
      "",
    ].join("\n"),
  );

  return {
    port,
    sshCommand: `ssh -F ${clientConfig}`,
    user,
    homeDir,
    dir,
    authorizedKeysPath,
    publicKey,
    setForcedCommand: async (command) => {
      const line =
        command === undefined
          ? publicKey
          : `command="${command.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}",restrict ${publicKey}`;
      await writeFile(authorizedKeysPath, `${line}\n`, { mode: 0o600 });
    },
    log,
    stop: async () => {
      if (
        daemon.process.exitCode === null &&
        daemon.process.signalCode === null
      ) {
        daemon.process.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on at the moment of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port =
        typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

interface Launched {
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  readonly log: () => string;
}

/** Another sshd (another test file's) took the port between freePort() and the bind. */
class PortTaken extends Error {}

/**
 * Starts sshd and resolves once it logs that it listens on `port`: its own line, not a
 * successful connect, which another file's sshd on the same port would also answer.
 */
async function launch(config: string, port: number): Promise<Launched> {
  let text = "";
  const child = spawn(SSHD_PATH, ["-D", "-e", "-f", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    text += chunk;
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  const listening = `Server listening on 127.0.0.1 port ${port}.`;
  const deadline = Date.now() + 15_000;
  while (!text.includes(listening)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      if (text.includes("Address already in use")) throw new PortTaken(text);
      throw new Error(
        `sshd exited with status ${String(child.exitCode)} at start:\n${text}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      await exited;
      throw new Error(
        `sshd did not listen on 127.0.0.1:${port} within 15 s:\n${text}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { process: child, exited, log: () => text };
}
