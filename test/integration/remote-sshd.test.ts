/**
 * The remote store through a real OpenSSH sshd on 127.0.0.1 that the test starts itself
 * (test/helpers/sshd.ts): the Store conformance suite, both location forms, forced commands
 * with --restrict-to-path and --append-only, and the two ways ssh fails before the hello.
 */

import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlindsyncError, isBlindsyncError } from "../../src/errors.js";
import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/store.js";
import { blindsyncShellCommand } from "../helpers/serve-process.js";
import { freePort, startSshd, type Sshd } from "../helpers/sshd.js";
import { storeConformanceSuite } from "../store-suite.js";

let sshd: Sshd;
let work: string;
/** A remote command that adds --append-only, as a forced command would. */
let appendOnlyCommand: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = await mkdtemp(join(tmpdir(), "blindsync-ssh-repos-"));
  appendOnlyCommand = join(work, "serve-append-only.sh");
  await writeFile(
    appendOnlyCommand,
    `#!/bin/sh\necho "wrapper: serving append-only" >&2\nexec ${blindsyncShellCommand()} "$@" --append-only\n`,
  );
  await chmod(appendOnlyCommand, 0o755);
});

afterAll(async () => {
  await sshd.stop();
  await rm(work, { recursive: true, force: true });
});

let repoCount = 0;

function open(
  location: string,
  options: {
    mode?: "open" | "create";
    remoteCommand?: string;
    onStderr?: (line: string) => void;
  } = {},
): Promise<Store> {
  return openStore(location, {
    mode: options.mode ?? "create",
    sshCommand: sshd.sshCommand,
    remoteCommand: options.remoteCommand ?? blindsyncShellCommand(),
    ...(options.onStderr === undefined ? {} : { onStderr: options.onStderr }),
  });
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

const config = new Uint8Array([1, 2, 3]);
const slot = { name: "0123456789abcdef", bytes: new Uint8Array([4]) };
const blob = {
  id: new Uint8Array(32).fill(7),
  kind: "data" as const,
  bytes: new Uint8Array(100_000).fill(9),
};

storeConformanceSuite(
  "RemoteStore through a real sshd",
  async ({ appendOnly }) => {
    const path = join(work, `suite-${++repoCount}`);
    const store = await open(
      `127.0.0.1:${path}`,
      appendOnly ? { remoteCommand: appendOnlyCommand } : {},
    );
    return {
      store,
      cleanup: () => rm(path, { recursive: true, force: true }),
    };
  },
);

describe("a remote repository over ssh", () => {
  it("round-trips blobs through both the host:path and the ssh://host:port/path forms", async () => {
    const path = join(work, "forms");
    const stderr: string[] = [];
    const first = await open(`${sshd.user}@127.0.0.1:${path}`, {
      remoteCommand: appendOnlyCommand,
      onStderr: (line) => stderr.push(line),
    });
    await first.create(config, slot);
    await first.put([blob]);
    await first.close();
    expect(stderr).toContain("wrapper: serving append-only");

    const second = await open(`ssh://127.0.0.1:${sshd.port}${path}`, {
      mode: "open",
    });
    expect(await second.readConfig()).toEqual(config);
    expect(await second.get(blob.id)).toEqual(blob.bytes);
    await second.close();
  });

  it("a forced command with --restrict-to-path refuses a repository outside it and creates nothing", async () => {
    const allowed = join(work, "allowed");
    await mkdir(allowed);
    const outside = join(work, "outside", "repo");
    await sshd.setForcedCommand(
      `${blindsyncShellCommand()} serve --restrict-to-path ${allowed} --append-only`,
    );
    try {
      const error = await caught(
        open(`127.0.0.1:${outside}`, { remoteCommand: "anything-ignored" }),
      );
      expect(isBlindsyncError(error, "failed")).toBe(true);
      expect((error as BlindsyncError).message).toMatch(
        /is outside the directories this server allows/,
      );
      expect(existsSync(join(work, "outside"))).toBe(false);

      // The client's remote command is ignored: the forced command runs, append-only.
      const inside = await open(`127.0.0.1:${join(allowed, "repo")}`, {
        remoteCommand: "anything-ignored",
      });
      expect(inside.appendOnly).toBe(true);
      await inside.create(config, slot);
      await inside.put([blob]);
      expect(
        isBlindsyncError(await caught(inside.delete([blob.id])), "append-only"),
      ).toBe(true);
      await inside.close();
    } finally {
      await sshd.setForcedCommand(undefined);
    }
  });

  it("says clearly that ssh cannot connect", async () => {
    const port = await freePort();
    const error = await caught(open(`ssh://127.0.0.1:${port}/x`));
    expect(isBlindsyncError(error, "failed")).toBe(true);
    expect((error as BlindsyncError).message).toMatch(
      /^Cannot connect to "127.0.0.1" with ssh: .*Connection refused/,
    );
  });

  it("says clearly that the remote command is missing and names --remote-cmd", async () => {
    const error = await caught(
      open(`127.0.0.1:${join(work, "never")}`, {
        remoteCommand: "/nonexistent/blindsync",
      }),
    );
    expect(isBlindsyncError(error, "failed")).toBe(true);
    expect((error as BlindsyncError).message).toMatch(
      /^The remote command "\/nonexistent\/blindsync" was not found on "127.0.0.1"/,
    );
    expect((error as BlindsyncError).hint).toMatch(/--remote-cmd/);
    expect(existsSync(join(work, "never"))).toBe(false);
  });

  it("passes the server's no-repository through for a missing repository", async () => {
    const error = await caught(
      open(`127.0.0.1:${join(work, "missing")}`, { mode: "open" }),
    );
    expect(isBlindsyncError(error, "no-repository")).toBe(true);
    expect((error as BlindsyncError).message).toBe(
      `No repository at "127.0.0.1:${join(work, "missing")}"`,
    );
    expect((error as BlindsyncError).hint).toBe(
      `Create one with: blindsync init 127.0.0.1:${join(work, "missing")}`,
    );
  });
});
