/**
 * The cipher hint seam (connection.ts) through a real sshd: the store asks for the earlier
 * answer only where it matters, passes on what the server's hello says, and the answer decides
 * which cipher ssh negotiates. The whole loop through the CLI's cache is in
 * test/integration/remote-cli.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blindsyncShellCommand } from "../../../test/helpers/serve-process.js";
import { startSshd, type Sshd } from "../../../test/helpers/sshd.js";
import { isBlindsyncError } from "../../errors.js";
import { cpuHasAes } from "../../util/cpu-features.js";
import { openStore } from "../open.js";
import type { CipherHint } from "./connection.js";

let sshd: Sshd;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = await mkdtemp(join(tmpdir(), "blindsync-hint-"));
});

afterAll(async () => {
  await sshd.stop();
  await rm(work, { recursive: true, force: true });
});

/** A hint that answers `earlier` and records what it is asked and told. */
function recordingHint(earlier: boolean | undefined) {
  const record = { asked: 0, heard: [] as boolean[] };
  const hint: CipherHint = {
    earlier() {
      record.asked += 1;
      return earlier;
    },
    heard(serverHasAes) {
      record.heard.push(serverHasAes);
    },
  };
  return { hint, record };
}

/** Opens `path` over ssh -v and returns the ciphers ssh negotiated, one per direction. */
async function ciphersWith(path: string, hint: CipherHint): Promise<string[]> {
  const stderr: string[] = [];
  const store = await openStore(`127.0.0.1:${path}`, {
    mode: "create",
    sshCommand: `${sshd.sshCommand} -v`,
    remoteCommand: blindsyncShellCommand(),
    cipherHint: hint,
    onStderr: (line) => stderr.push(line),
  });
  await store.close();
  return stderr.flatMap((line) => {
    const match = /kex: \S+ cipher: (\S+)/.exec(line);
    return match === null ? [] : [match[1] as string];
  });
}

describe("the ssh cipher hint", () => {
  it("is asked for the earlier answer only on a CPU with AES instructions, and told the server's", async () => {
    const { hint, record } = recordingHint(undefined);
    await ciphersWith(join(work, "told"), hint);
    expect(record.asked).toBe(cpuHasAes() ? 1 : 0);
    // The server runs on this machine, so its hello says what this CPU has.
    expect(record.heard).toEqual([cpuHasAes()]);
  });

  it("makes ssh negotiate AES-GCM when both ends have AES, and leaves ssh's default otherwise", async () => {
    const withHint = await ciphersWith(
      join(work, "aes"),
      recordingHint(true).hint,
    );
    const aes = cpuHasAes() ? "aes128-gcm@openssh.com" : undefined;
    if (aes !== undefined) expect(withHint).toEqual([aes, aes]);
    const without = await ciphersWith(
      join(work, "default"),
      recordingHint(false).hint,
    );
    expect(without).toHaveLength(2);
    expect(without).not.toContain("aes128-gcm@openssh.com");
    if (aes === undefined) expect(withHint).toEqual(without);
  });

  it("is told nothing by a connection the server refuses", async () => {
    const { hint, record } = recordingHint(undefined);
    const error = await openStore(`127.0.0.1:${join(work, "missing")}`, {
      mode: "open",
      sshCommand: sshd.sshCommand,
      remoteCommand: blindsyncShellCommand(),
      cipherHint: hint,
    }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isBlindsyncError(error, "no-repository")).toBe(true);
    expect(record.heard).toEqual([]);
  });
});
