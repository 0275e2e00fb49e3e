/**
 * The sftp ObjectStore through a real OpenSSH sshd on 127.0.0.1 whose client key may run only
 * OpenSSH's own sftp-server (a forced command): nothing of blindsync, nor node, runs on the
 * server side, whatever the client asks. The conformance suite runs over it, then what only a
 * real ssh shows: wrong host and port, the replaced ssh command, no process left after close,
 * and the time of a 16 MiB put.
 */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeOf } from "../../src/cli/exit.js";
import { isBlindsyncError } from "../../src/errors.js";
import { SftpObjectStore } from "../../src/store/objects/sftp/index.js";
import { freePort, startSshd, type Sshd } from "../helpers/sshd.js";
import { requireSftpServer } from "../helpers/sftp-server.js";
import { objectStoreConformanceSuite } from "../object-store-suite.js";

const run = promisify(execFile);

let sshd: Sshd;
/** The folder sftp-server starts in: relative paths land here, as in a login directory. */
let home: string;

beforeAll(async () => {
  const server = requireSftpServer();
  sshd = await startSshd();
  home = await mkdtemp(join(tmpdir(), "blindsync-sftp-home-"));
  await sshd.setForcedCommand(`${server} -d ${home}`);
});

afterAll(async () => {
  await sshd.stop();
  await rm(home, { recursive: true, force: true });
});

let counter = 0;

async function openStore(path?: string): Promise<SftpObjectStore> {
  return SftpObjectStore.open({
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    path: path ?? `vault-${process.pid}-${counter++}`,
    create: true,
    sshCommand: sshd.sshCommand,
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection, got a result");
    },
    (caught: unknown) => caught,
  );
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

objectStoreConformanceSuite("SftpObjectStore through sshd", async () => {
  const path = `vault-${process.pid}-${counter++}`;
  return {
    objects: await openStore(path),
    cleanup: () => rm(join(home, path), { recursive: true, force: true }),
  };
});

describe("SftpObjectStore through sshd", () => {
  it("the server runs only sftp-server: a command asked for gets sftp-server instead", async () => {
    // With a shell, `echo` would print; the forced sftp-server reads no INIT and prints nothing.
    const [ssh, ...args] = sshd.sshCommand.split(" ");
    const running = run(ssh!, [
      ...args,
      "-p",
      String(sshd.port),
      "127.0.0.1",
      "echo from-a-shell; command -v blindsync node",
    ]);
    running.child.stdin?.end(); // sftp-server exits at the end of its input
    const { stdout } = await running;
    expect(stdout).toBe("");
  });

  it("stores under the login folder for a relative path", async () => {
    const store = await openStore("relative/vault");
    try {
      await store.put("config", new TextEncoder().encode("here"));
      expect(await readFile(join(home, "relative/vault/config"), "utf8")).toBe(
        "here",
      );
      expect(store.where).toBe(
        `sftp://${sshd.user}@127.0.0.1:${sshd.port}/~/relative/vault`,
      );
    } finally {
      await store.close();
    }
  });

  it("a missing root without create is 'no-repository' (exit 10)", async () => {
    const error = await rejection(
      SftpObjectStore.open({
        host: "127.0.0.1",
        port: sshd.port,
        path: "no/such/vault",
        create: false,
        sshCommand: sshd.sshCommand,
      }),
    );
    expect(isBlindsyncError(error, "no-repository")).toBe(true);
    expect(exitCodeOf((error as { kind: "no-repository" }).kind)).toBe(10);
  });

  it("a port nothing listens on is one clear 'failed' naming the location (exit 1)", async () => {
    const port = await freePort();
    const error = await rejection(
      SftpObjectStore.open({
        host: "127.0.0.1",
        port,
        path: "vault",
        create: false,
        sshCommand: sshd.sshCommand,
      }),
    );
    expect(isBlindsyncError(error, "failed")).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(`sftp://127.0.0.1:${port}/~/vault`);
    expect(message).toMatch(/Connection refused/);
    expect(message).not.toMatch(/\n\s+at /);
    // The port REPO gave is in the command the hint suggests.
    expect((error as { hint?: string }).hint).toContain(
      `ssh -p ${port} 127.0.0.1`,
    );
    expect(exitCodeOf("failed")).toBe(1);
  });

  it("a host that does not resolve is one clear 'failed' naming it", async () => {
    const error = await rejection(
      SftpObjectStore.open({
        host: "no-such-host.invalid",
        path: "vault",
        create: false,
        sshCommand: sshd.sshCommand,
      }),
    );
    expect(isBlindsyncError(error, "failed")).toBe(true);
    expect((error as Error).message).toContain(
      'Cannot connect to "no-such-host.invalid"',
    );
  });

  it("close() leaves no ssh process behind", async () => {
    const store = await openStore();
    await store.put("a", new Uint8Array(10));
    const pid = store.sshPid!;
    expect(processGone(pid)).toBe(false);
    await store.close();
    expect(processGone(pid)).toBe(true);
    await store.close();
  });

  it("puts 16 MiB in well under a second and reads a 4 MiB range back", async () => {
    const store = await openStore();
    try {
      const bytes = new Uint8Array(randomBytes(16 * 1024 * 1024));
      await store.put("warm-up", bytes.subarray(0, 1024 * 1024));
      const started = performance.now();
      await store.put("packs/00/big", bytes);
      const putMs = performance.now() - started;
      const rangeStarted = performance.now();
      const range = await store.get("packs/00/big", {
        offset: 8 * 1024 * 1024,
        length: 4 * 1024 * 1024,
      });
      const getMs = performance.now() - rangeStarted;
      // Connection included, as OpenSSH's sftp client below pays for its own.
      const connectedStarted = performance.now();
      const second = await openStore();
      await second.put("packs/00/big", bytes);
      await second.close();
      const connectedMs = performance.now() - connectedStarted;
      const openSshMs = await openSshSftpPut(bytes);
      console.log(
        `sftp over loopback sshd: 16 MiB put ${putMs.toFixed(0)} ms, 4 MiB ranged get ${getMs.toFixed(0)} ms; connect + 16 MiB put + close ${connectedMs.toFixed(0)} ms, OpenSSH's sftp client the same ${openSshMs.toFixed(0)} ms`,
      );
      expect(
        Buffer.compare(
          range,
          bytes.subarray(8 * 1024 * 1024, 12 * 1024 * 1024),
        ),
      ).toBe(0);
      // The target is well under a second; the bound leaves room for a loaded 2-core machine.
      expect(putMs).toBeLessThan(3000);
    } finally {
      await store.close();
    }
  });
});

/**
 * How long OpenSSH's own sftp client takes to put `bytes` through the same sshd (a new
 * connection, so the handshake is counted: about what opening a store costs), for comparison.
 */
async function openSshSftpPut(bytes: Uint8Array): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-sftp-cmp-"));
  try {
    await writeFile(join(dir, "big"), bytes);
    await writeFile(join(dir, "batch"), `put ${join(dir, "big")} cmp-big\n`);
    const config = sshd.sshCommand.split(" ")[2]!;
    const started = performance.now();
    await run("sftp", [
      "-F",
      config,
      "-P",
      String(sshd.port),
      "-b",
      join(dir, "batch"),
      "127.0.0.1",
    ]);
    return performance.now() - started;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
