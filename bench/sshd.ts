/**
 * A real sshd on 127.0.0.1 with its own configuration, host key and client key, and a counting
 * TCP proxy in front of it: every tool connects through the proxy, so the bytes over the wire
 * are counted outside the tools, in both directions.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { log, runOk, shellQuote, sleep } from "./util.js";

export interface Sshd {
  /** The pid of the listening sshd: every server-side process descends from it. */
  readonly pid: number;
  readonly port: number;
  readonly user: string;
  /** The ssh command line, without host or port, for every tool. */
  readonly sshCommand: readonly string[];
  readonly stop: () => void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null)
      throw new Error(`sshd exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.on("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => {
        resolve(false);
      });
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`sshd did not listen on ${port}`);
}

export async function startSshd(dir: string): Promise<Sshd> {
  await mkdir(dir, { recursive: true });
  await mkdir("/run/sshd", { recursive: true });
  const hostKey = join(dir, "host_ed25519");
  const clientKey = join(dir, "client_ed25519");
  await runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  await runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
  await runOk(["cp", `${clientKey}.pub`, join(dir, "authorized_keys")]);
  const port = await freePort();
  const sftpServer = [
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/libexec/sftp-server",
  ].find((path) => existsSync(path));
  const config = join(dir, "sshd_config");
  await writeFile(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "PrintMotd no",
      "MaxStartups 50",
      "MaxSessions 50",
      "LogLevel ERROR",
      // Debian's bash sources ~/.bashrc for every ssh command when SHLVL is unset; this machine's
      // root .bashrc runs `pyenv init` (about 0.9 CPU-seconds per session), a cost of the
      // machine, not of any tool. SHLVL=1 makes bash skip it, as on a server with a plain .bashrc.
      "SetEnv SHLVL=1",
      `Subsystem sftp ${sftpServer ?? "internal-sftp"}`,
      "",
    ].join("\n"),
  );
  const child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr.on("data", (data: Buffer) => {
    stderr.push(data.toString("utf8"));
    if (stderr.length > 50) stderr.shift();
  });
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill("SIGTERM");
    throw new Error(`${String(error)}: ${stderr.join("")}`);
  }
  if (child.pid === undefined) throw new Error("sshd has no pid");
  log(`sshd: pid ${child.pid} on 127.0.0.1:${port}`);
  return {
    pid: child.pid,
    port,
    user: "root",
    sshCommand: [
      "ssh",
      "-F",
      "/dev/null",
      "-i",
      clientKey,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
    ],
    stop: () => {
      if (child.exitCode === null) child.kill("SIGTERM");
    },
  };
}

export function sshCommandLine(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}

export interface ByteCounts {
  /** Client to server. */
  up: number;
  /** Server to client. */
  down: number;
}

export interface CountingProxy {
  readonly port: number;
  /** Returns the counts since the last reset and starts again from zero. */
  readonly takeCounts: () => ByteCounts;
  /** Sockets still open (client and upstream sides both count). */
  readonly openConnections: () => number;
  readonly stop: () => void;
}

/** A TCP proxy on 127.0.0.1 in front of `targetPort` that counts bytes in both directions. */
export async function startProxy(targetPort: number): Promise<CountingProxy> {
  let counts: ByteCounts = { up: 0, down: 0 };
  const sockets = new Set<Socket>();
  // Half-open sockets allowed: each direction ends on its own, as ssh expects; pipe() forwards
  // the ends, and only an error tears both sides down.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({
      port: targetPort,
      host: "127.0.0.1",
      allowHalfOpen: true,
    });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("data", (data: Buffer) => {
      counts.up += data.length;
    });
    upstream.on("data", (data: Buffer) => {
      counts.down += data.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const fail = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", fail);
    upstream.on("error", fail);
    client.on("close", () => sockets.delete(client));
    upstream.on("close", () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    takeCounts: () => {
      const taken = counts;
      counts = { up: 0, down: 0 };
      return taken;
    },
    openConnections: () => sockets.size,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
