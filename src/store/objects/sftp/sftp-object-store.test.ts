/**
 * SftpObjectStore's own behaviour, with the ssh command replaced (as --ssh / BLINDSYNC_SSH
 * replace it) by a stand-in that runs OpenSSH's sftp-server locally: what the store leaves on
 * disk, the root folder rules, the argv it hands the ssh command, and its errors. The
 * conformance suite through a real sshd is test/integration/sftp-objects.test.ts.
 */

import { existsSync } from "node:fs";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SFTP_SERVER } from "../../../../test/helpers/sftp-server.js";
import { isBlindsyncError } from "../../../errors.js";
import {
  formatSftpWhere,
  rootPath,
  SftpObjectStore,
  type SftpObjectStoreOptions,
} from "./sftp-object-store.js";
import { sftpSshArguments } from "./ssh-process.js";
import { AES_FIRST_CIPHERS } from "../../remote/ssh-ciphers.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function temporaryDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-sftp-store-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * An ssh command that records its arguments in `argvFile` and runs sftp-server with `home` as
 * its starting folder, as a login directory would be.
 */
function standIn(home: string, argvFile: string): string {
  return `sh -c 'echo "$0 $*" > ${argvFile}; exec ${SFTP_SERVER} -d ${home}'`;
}

async function open(
  options: Partial<SftpObjectStoreOptions> & { home: string },
): Promise<{ store: SftpObjectStore; argv: () => Promise<string> }> {
  const argvFile = join(await temporaryDir(), "argv");
  const store = await SftpObjectStore.open({
    host: "backup.example",
    path: "vault",
    create: true,
    sshCommand: standIn(options.home, argvFile),
    ...options,
  });
  cleanups.push(() => store.close());
  return {
    store,
    argv: async () => (await readFile(argvFile, "utf8")).trim(),
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection, got a result");
    },
    (caught: unknown) => caught,
  );
}

describe("sftpSshArguments()", () => {
  it("puts the ssh words, the port, -s, user@host and the subsystem name in order", () => {
    const plain = { preferAesGcm: false };
    expect(
      sftpSshArguments(
        {
          host: "h",
          user: "me",
          port: 2222,
          sshCommand: "ssh -i '/my keys/id'",
        },
        plain,
      ),
    ).toEqual(["ssh", "-i", "/my keys/id", "-p", "2222", "-s", "me@h", "sftp"]);
    expect(sftpSshArguments({ host: "h" }, plain)).toEqual([
      "ssh",
      "-s",
      "h",
      "sftp",
    ]);
  });

  it("asks for AES-GCM first when told to, unless the ssh command line chose ciphers", () => {
    const aes = { preferAesGcm: true };
    // -F /dev/null: no configuration file of this machine's can set Ciphers.
    expect(
      sftpSshArguments({ host: "h", sshCommand: "ssh -F /dev/null" }, aes),
    ).toEqual([
      "ssh",
      "-F",
      "/dev/null",
      "-o",
      `Ciphers=${AES_FIRST_CIPHERS}`,
      "-s",
      "h",
      "sftp",
    ]);
    expect(
      sftpSshArguments(
        { host: "h", sshCommand: "ssh -F /dev/null -c aes256-ctr" },
        aes,
      ),
    ).toEqual([
      "ssh",
      "-F",
      "/dev/null",
      "-c",
      "aes256-ctr",
      "-s",
      "h",
      "sftp",
    ]);
  });
});

describe("rootPath() and formatSftpWhere()", () => {
  it.each([
    ["vault", "vault"],
    ["~/vault", "vault"],
    ["/srv/vault/", "/srv/vault"],
    ["a/b", "a/b"],
  ])("rootPath(%j) is %j", (path, root) => {
    expect(rootPath(path)).toBe(root);
  });

  it("refuses a path that names no folder", () => {
    expect(
      isBlindsyncError(
        catching(() => rootPath("/")),
        "usage",
      ),
    ).toBe(true);
  });

  it("writes the location as a user types it", () => {
    expect(formatSftpWhere({ host: "h", user: "me", path: "vault" })).toBe(
      "sftp:me@h:vault",
    );
    expect(formatSftpWhere({ host: "::1", path: "/srv/v" })).toBe(
      "sftp:[::1]:/srv/v",
    );
    expect(formatSftpWhere({ host: "h", port: 2222, path: "vault" })).toBe(
      "sftp://h:2222/~/vault",
    );
    expect(formatSftpWhere({ host: "h", port: 22, path: "/srv/v" })).toBe(
      "sftp://h:22/srv/v",
    );
  });
});

function catching(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("SftpObjectStore through a replaced ssh command", () => {
  it("runs the replacement command with -s HOST sftp, and stores relative to the login folder", async () => {
    const home = await temporaryDir();
    const { store, argv } = await open({
      home,
      user: "me",
      port: 2222,
      path: "~/backups/vault",
    });
    expect(await argv()).toBe("-p 2222 -s me@backup.example sftp");
    await store.put("config", new TextEncoder().encode("c"));
    expect(await readFile(join(home, "backups/vault/config"), "utf8")).toBe(
      "c",
    );
    expect(store.where).toBe("sftp://me@backup.example:2222/~/backups/vault");
  });

  it("makes folders 0700 and files 0600, and leaves no temporary file", async () => {
    const home = await temporaryDir();
    const { store } = await open({ home, path: `${home}/vault` });
    await store.put("packs/ab/p1", new Uint8Array(100_000).fill(7));
    const vault = join(home, "vault");
    expect((await stat(join(vault, "packs"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(vault, "packs/ab"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(vault, "packs/ab/p1"))).mode & 0o777).toBe(0o600);
    expect(await readdir(join(vault, "packs/ab"))).toEqual(["p1"]);
  });

  it("makes a pack folder beside existing ones with one MKDIR, and a missing parent too", async () => {
    const home = await temporaryDir();
    const log = join(await temporaryDir(), "sftp-server.log");
    // sftp-server logs each MKDIR asked for (made or not) at level INFO.
    const { store } = await open({
      home,
      path: `${home}/vault`,
      sshCommand: `sh -c 'exec ${SFTP_SERVER} -d ${home} -e -l INFO 2>>${log}'`,
    });
    const mkdirs = async (): Promise<string[]> =>
      [...(await readFile(log, "utf8")).matchAll(/mkdir name "([^"]*)"/g)]
        .map((match) => match[1]!)
        .filter((path) => path.includes("/vault/"))
        .map((path) => path.slice(path.indexOf("/vault/") + 7));
    await store.put("packs/aa/p1", new Uint8Array(10));
    expect(await mkdirs()).toEqual(["packs/aa", "packs", "packs/aa"]);
    await store.put("packs/bb/p2", new Uint8Array(10));
    await store.put("packs/bb/p3", new Uint8Array(10));
    expect((await mkdirs()).slice(3)).toEqual(["packs/bb"]);
    expect((await readdir(join(home, "vault/packs/bb"))).sort()).toEqual([
      "p2",
      "p3",
    ]);
  });

  it("keeps an unchanging object open between ranged gets, and opens others each time", async () => {
    const home = await temporaryDir();
    const log = join(await temporaryDir(), "sftp-server.log");
    // sftp-server logs each OPEN and CLOSE at level INFO.
    const { store } = await open({
      home,
      path: `${home}/vault`,
      sshCommand: `sh -c 'exec ${SFTP_SERVER} -d ${home} -e -l INFO 2>>${log}'`,
    });
    const count = async (what: RegExp): Promise<number> =>
      (await readFile(log, "utf8")).match(what)?.length ?? 0;
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    await store.put("packs/aa/p1", bytes);
    await store.put("config", bytes);
    const opensBefore = await count(/open "[^"]*"/g);
    for (const offset of [0, 300, 600]) {
      const range = { offset, length: 200 };
      expect(
        await store.get("packs/aa/p1", range, { unchanging: true }),
      ).toEqual(bytes.subarray(offset, offset + 200));
      expect(await store.get("config", range)).toEqual(
        bytes.subarray(offset, offset + 200),
      );
    }
    // A range past the end is still refused through the kept handle.
    const past = await rejection(
      store.get(
        "packs/aa/p1",
        { offset: 900, length: 200 },
        { unchanging: true },
      ),
    );
    expect(isBlindsyncError(past, "integrity")).toBe(true);
    expect(await count(/open "[^"]*packs\/aa\/p1" flags READ/g)).toBe(1);
    expect(await count(/open "[^"]*config" flags READ/g)).toBe(3);
    expect(await count(/open "[^"]*"/g)).toBe(opensBefore + 4);
  });

  it("a failed put removes its temporary file", async () => {
    const home = await temporaryDir();
    const { store } = await open({ home, path: `${home}/vault` });
    // A folder where the object should go: the final rename fails.
    await mkdir(join(home, "vault/index/seg"), { recursive: true });
    await writeFile(join(home, "vault/index/seg/x"), "keep");
    const failed = await rejection(store.put("index/seg", new Uint8Array(10)));
    expect(isBlindsyncError(failed, "failed")).toBe(true);
    expect((failed as Error).message).toContain("index/seg");
    expect(await readdir(join(home, "vault/index"))).toEqual(["seg"]);
  });

  it("does not list temporary dot files or what is not an object", async () => {
    const home = await temporaryDir();
    const { store } = await open({ home, path: `${home}/vault` });
    await store.put("index/a", new Uint8Array(3));
    await writeFile(join(home, "vault/index/.tmp-123"), "half");
    await writeFile(join(home, "vault/index/bad name"), "x");
    const names: string[] = [];
    for await (const info of store.list("")) names.push(info.name);
    expect(names).toEqual(["index/a"]);
  });

  it("sweepTemporaries removes a dead put's temporary file an hour old, and nothing else", async () => {
    const home = await temporaryDir();
    const { store } = await open({ home, path: `${home}/vault` });
    await store.put("packs/ab/abcd", new Uint8Array([5]));
    const dead = join(home, "vault/packs/ab/.tmp-0123456789abcdef");
    const live = join(home, "vault/packs/ab/.tmp-fedcba9876543210");
    const other = join(home, "vault/packs/.hidden");
    for (const path of [dead, live, other]) await writeFile(path, "half");
    const old = (Date.now() - 2 * 60 * 60 * 1000) / 1000;
    await utimes(dead, old, old);
    await utimes(other, old, old);
    expect(await store.sweepTemporaries(60 * 60 * 1000)).toBe(1);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(await store.get("packs/ab/abcd")).toEqual(new Uint8Array([5]));
  });

  it("lists through a symlinked folder, and a symlink loop ends", async () => {
    const home = await temporaryDir();
    const { store } = await open({ home, path: `${home}/vault` });
    await store.put("packs/aa/p", new Uint8Array(4));
    await symlink(join(home, "vault/packs"), join(home, "vault/packs/aa/loop"));
    const names: string[] = [];
    for await (const info of store.list("packs/")) names.push(info.name);
    expect(names).toContain("packs/aa/p");
    expect(names).toContain("packs/aa/loop/aa/p");
  });

  it("a missing root is 'no-repository' without create, and made with it", async () => {
    const home = await temporaryDir();
    const missing = await rejection(
      open({ home, path: `${home}/a/b`, create: false }),
    );
    expect(isBlindsyncError(missing, "no-repository")).toBe(true);
    expect((missing as Error).message).toBe(
      `No repository at "sftp:backup.example:${home}/a/b"`,
    );
    expect(existsSync(join(home, "a"))).toBe(false);

    await open({ home, path: `${home}/a/b`, create: true });
    expect((await stat(join(home, "a/b"))).isDirectory()).toBe(true);
  });

  it("a root that is a file is refused", async () => {
    const home = await temporaryDir();
    await writeFile(join(home, "file"), "x");
    const refused = await rejection(open({ home, path: "file" }));
    expect(isBlindsyncError(refused, "failed")).toBe(true);
    expect((refused as Error).message).toContain("is not a folder");
  });

  it("shows ssh's stderr only when the session fails", async () => {
    const home = await temporaryDir();
    const shown: string[] = [];
    const store = await SftpObjectStore.open({
      host: "h",
      path: `${home}/vault`,
      create: true,
      sshCommand: `sh -c 'echo a notice >&2; exec ${SFTP_SERVER}'`,
      onStderr: (line) => shown.push(line),
    });
    await store.put("a", new Uint8Array(1));
    await store.close();
    expect(shown).toEqual([]);

    const failed = await rejection(
      SftpObjectStore.open({
        host: "h",
        path: "v",
        create: false,
        sshCommand: `sh -c 'echo first >&2; echo "Permission denied (publickey)." >&2; exit 255'`,
        onStderr: (line) => shown.push(line),
      }),
    );
    // The last line is in the message; shown again it would be printed twice.
    expect(shown).toEqual(["first"]);
    expect(isBlindsyncError(failed, "failed")).toBe(true);
    expect((failed as Error).message).toBe(
      'Cannot connect to "h" with ssh to reach sftp:h:v: Permission denied (publickey).',
    );
    expect((failed as { hint?: string }).hint).toBe(
      "Check the host name, port and keys by running: ssh h",
    );
  });

  it("a failure on another port names the port in the message and in the command it suggests", async () => {
    const shown: string[] = [];
    const failed = await rejection(
      SftpObjectStore.open({
        host: "h",
        user: "me",
        port: 2222,
        path: "v",
        create: false,
        sshCommand: `sh -c 'echo "Connection refused" >&2; exit 255'`,
        onStderr: (line) => shown.push(line),
      }),
    );
    expect(shown).toEqual([]);
    expect((failed as Error).message).toBe(
      'Cannot connect to "me@h" (port 2222) with ssh to reach sftp://me@h:2222/~/v: Connection refused',
    );
    expect((failed as { hint?: string }).hint).toBe(
      "Check the host name, port and keys by running: ssh -p 2222 me@h",
    );
    const noSftp = await rejection(
      SftpObjectStore.open({
        host: "h",
        port: 2222,
        path: "v",
        create: false,
        sshCommand: `sh -c 'exit 3'`,
      }),
    );
    expect((noSftp as { hint?: string }).hint).toBe(
      'Check that "sftp -P 2222 h" works from this machine',
    );
  });

  it("ssh runs with SIGINT ignored, so a terminal's Ctrl-C leaves the session up for the client to release its lease", async () => {
    const home = await temporaryDir();
    // The stand-in sends itself SIGINT before it becomes the sftp server: with SIGINT at its
    // default it dies there and the store cannot open.
    const store = await SftpObjectStore.open({
      host: "h",
      path: `${home}/vault`,
      create: true,
      sshCommand: `sh -c 'kill -INT $$; exec ${SFTP_SERVER}'`,
    });
    await store.put("a", new Uint8Array(1));
    process.kill(store.sshPid!, "SIGINT");
    expect(await store.get("a")).toEqual(new Uint8Array(1));
    await store.close();
  });

  it("a connection lost midway fails the calls as 'transient' and shows ssh's stderr", async () => {
    const home = await temporaryDir();
    const shown: string[] = [];
    const store = await SftpObjectStore.open({
      host: "h",
      path: `${home}/vault`,
      create: true,
      sshCommand: `sh -c 'echo last words >&2; exec ${SFTP_SERVER}'`,
      onStderr: (line) => shown.push(line),
    });
    cleanups.push(() => store.close());
    await store.put("a", new Uint8Array(1));
    process.kill(store.sshPid!, "SIGKILL");
    const lost = await rejection(store.get("a"));
    expect(isBlindsyncError(lost, "transient")).toBe(true);
    expect((lost as Error).message).toContain(
      "Lost the sftp connection to sftp:h:",
    );
    await vi.waitFor(() => {
      expect(shown).toEqual(["last words"]);
    });
  });

  it("an ssh command that cannot run is one clear 'failed'", async () => {
    const failed = await rejection(
      SftpObjectStore.open({
        host: "h",
        path: "v",
        create: false,
        sshCommand: "/nonexistent/ssh-binary",
      }),
    );
    expect(isBlindsyncError(failed, "failed")).toBe(true);
    expect((failed as Error).message).toContain(
      'Cannot run the ssh command "/nonexistent/ssh-binary"',
    );
  });

  it("a login that prints text before sftp is a 'protocol' error with a hint", async () => {
    const failed = await rejection(
      SftpObjectStore.open({
        host: "h",
        path: "v",
        create: false,
        sshCommand: `sh -c 'echo Welcome to the server; exec ${SFTP_SERVER}'`,
      }),
    );
    expect(isBlindsyncError(failed, "protocol")).toBe(true);
    expect((failed as { hint?: string }).hint).toContain("prints text");
  });
});
