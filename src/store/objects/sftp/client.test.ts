/**
 * The SFTP client against OpenSSH's own sftp-server, run as a local child process (it speaks
 * sftp on stdin/stdout; no sshd is needed). Faults a real server never commits (oversized or
 * truncated frames, replies to requests never sent) come from a small fake peer in
 * client-faults.test.ts.
 */

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { requireSftpServer } from "../../../../test/helpers/sftp-server.js";
import { isBlindsyncError } from "../../../errors.js";
import { SftpClient, SftpStatusError } from "./client.js";
import { isDirectory, isRegularFile, OpenFlag, Status } from "./codec.js";
import { cutPieces, readRange, writeAll } from "./transfers.js";

interface Session {
  readonly client: SftpClient;
  readonly dir: string;
  readonly server: ChildProcessWithoutNullStreams;
}

const sessions: Session[] = [];

/** A real sftp-server started in a fresh temporary folder; `-R` makes it read-only. */
async function session(serverArgs: string[] = []): Promise<Session> {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-sftp-"));
  const server = spawn(requireSftpServer(), ["-d", dir, ...serverArgs], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const client = await SftpClient.start(
    { readable: server.stdout, writable: server.stdin },
    { where: "the test server" },
  );
  const made = { client, dir, server };
  sessions.push(made);
  return made;
}

afterEach(async () => {
  for (const { client, dir, server } of sessions.splice(0)) {
    client.end();
    if (server.exitCode === null && server.signalCode === null)
      await new Promise((resolve) => server.once("exit", resolve));
    await rm(dir, { recursive: true, force: true });
  }
});

/** A digest to compare: vitest's toEqual walks a 5 MiB array element by element for minutes. */
function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection, got a result");
    },
    (caught: unknown) => caught,
  );
}

describe("cutPieces()", () => {
  it("cuts parts into pieces of one size across their borders, as views", () => {
    const a = new Uint8Array([1, 2, 3]);
    const b = new Uint8Array([4]);
    const c = new Uint8Array([5, 6, 7, 8, 9]);
    const pieces = cutPieces([a, new Uint8Array(0), b, c], 4);
    expect(pieces.map((piece) => piece.offset)).toEqual([0, 4, 8]);
    expect(pieces.map((piece) => piece.data.map((part) => [...part]))).toEqual([
      [[1, 2, 3], [4]],
      [[5, 6, 7, 8]],
      [[9]],
    ]);
    // Views into the caller's buffers, not copies.
    expect(pieces[0]?.data[0]?.buffer).toBe(a.buffer);
    expect(cutPieces([], 4)).toEqual([]);
  });
});

describe("SftpClient against OpenSSH's sftp-server", () => {
  it("learns the server's extensions from VERSION", async () => {
    const { client } = await session();
    expect(client.hasExtension("posix-rename@openssh.com")).toBe(true);
    expect(client.hasExtension("fsync@openssh.com")).toBe(true);
    expect(client.hasExtension("no-such-extension@example.com")).toBe(false);
  });

  it("asks OpenSSH for its limits and reads and writes 255 KiB a request", async () => {
    const { client } = await session();
    // OpenSSH 8.6 and later answer limits@openssh.com with 255 KiB reads and writes.
    expect(client.hasExtension("limits@openssh.com")).toBe(true);
    expect(client.readPiece).toBe(255 * 1024);
    expect(client.writePiece).toBe(255 * 1024);
  });

  it("writes parts back to back as one file, pieces spanning their borders", async () => {
    const { client, dir } = await session();
    const parts = [300_000, 1, 0, 700_123, 17].map(
      (length) => new Uint8Array(randomBytes(length)),
    );
    const path = `${dir}/parts`;
    const handle = await client.open(
      path,
      OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.EXCL,
      0o600,
    );
    await writeAll(client, handle, path, parts);
    await client.close(handle, path);
    expect(digest(await readFile(path))).toBe(digest(Buffer.concat(parts)));
  });

  it("writes 5 MiB pipelined and reads it back whole and in a range", async () => {
    const { client, dir } = await session();
    const bytes = new Uint8Array(randomBytes(5 * 1024 * 1024 + 17));
    const path = `${dir}/big`;
    const handle = await client.open(
      path,
      OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.EXCL,
      0o600,
    );
    await writeAll(client, handle, path, bytes);
    await client.fsync(handle, path);
    await client.close(handle, path);
    expect(digest(await readFile(path))).toBe(digest(bytes));
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const reading = await client.open(path, OpenFlag.READ);
    expect((await client.fstat(reading, path)).size).toBe(bytes.length);
    expect(
      digest(await readRange(client, reading, path, 0, bytes.length)),
    ).toBe(digest(bytes));
    expect(
      digest(await readRange(client, reading, path, 70_000, 300_001)),
    ).toBe(digest(bytes.subarray(70_000, 370_001)));
    // Past the end the file is shorter than asked: fewer bytes, not an error.
    const tail = await readRange(client, reading, path, bytes.length - 5, 100);
    expect(tail).toEqual(bytes.subarray(bytes.length - 5));
    expect(await client.read(reading, path, bytes.length, 10)).toBeUndefined();
    await client.close(reading, path);
  });

  it("stats files and folders, and lists a folder across several READDIR batches", async () => {
    const { client, dir } = await session();
    await client.mkdir(`${dir}/sub`, 0o700);
    // More names than OpenSSH returns per READDIR (100), so the loop must ask again.
    const names = Array.from({ length: 250 }, (_, i) => `f${i}`);
    await Promise.all(
      names.map((name) => writeFile(join(dir, "sub", name), name)),
    );
    expect(isDirectory(await client.stat(`${dir}/sub`))).toBe(true);
    const file = await client.lstat(`${dir}/sub/f7`);
    expect(isRegularFile(file)).toBe(true);
    expect(file.size).toBe(2);

    const handle = await client.opendir(`${dir}/sub`);
    const seen: string[] = [];
    let batches = 0;
    for (;;) {
      const batch = await client.readdir(handle, `${dir}/sub`);
      if (batch === undefined) break;
      batches++;
      seen.push(...batch.map((entry) => entry.name));
    }
    await client.close(handle, `${dir}/sub`);
    expect(batches).toBeGreaterThan(1);
    expect(seen.filter((name) => !name.startsWith(".")).sort()).toEqual(
      [...names].sort(),
    );
  });

  it("posix-rename replaces the target; plain RENAME refuses to", async () => {
    const { client, dir } = await session();
    await writeFile(join(dir, "a"), "new");
    await writeFile(join(dir, "b"), "old");
    const refused = await rejection(client.rename(`${dir}/a`, `${dir}/b`));
    expect(refused).toBeInstanceOf(SftpStatusError);
    await client.posixRename(`${dir}/a`, `${dir}/b`);
    expect(await readFile(join(dir, "b"), "utf8")).toBe("new");
    expect(existsSync(join(dir, "a"))).toBe(false);
    await client.remove(`${dir}/b`);
    expect(existsSync(join(dir, "b"))).toBe(false);
  });

  it("a missing file is 'not-found' naming the path; EXCL on an existing one fails", async () => {
    const { client, dir } = await session();
    const missing = await rejection(client.stat(`${dir}/nothing`));
    expect(missing).toBeInstanceOf(SftpStatusError);
    expect((missing as SftpStatusError).status).toBe(Status.NO_SUCH_FILE);
    expect(isBlindsyncError(missing, "not-found")).toBe(true);
    expect((missing as Error).message).toContain(`"${dir}/nothing"`);
    expect((missing as Error).message).toContain("the test server");

    await writeFile(join(dir, "there"), "x");
    const exists = await rejection(
      client.open(
        `${dir}/there`,
        OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.EXCL,
      ),
    );
    expect(isBlindsyncError(exists, "failed")).toBe(true);
  });

  it("permission denied is 'failed' naming the path", async () => {
    const { client, dir } = await session(["-R"]);
    const denied = await rejection(
      client.open(`${dir}/x`, OpenFlag.WRITE | OpenFlag.CREAT, 0o600),
    );
    expect((denied as SftpStatusError).status).toBe(Status.PERMISSION_DENIED);
    expect(isBlindsyncError(denied, "failed")).toBe(true);
    expect((denied as Error).message).toMatch(
      new RegExp(`Cannot open "${dir}/x" on the test server: .*denied`, "i"),
    );
  });

  it("a server that dies fails requests in flight and later ones as 'transient'", async () => {
    const { client, dir, server } = await session();
    await writeFile(join(dir, "f"), "x");
    const handle = await client.open(`${dir}/f`, OpenFlag.READ);
    server.kill("SIGKILL");
    const lost = await rejection(
      Promise.all(
        Array.from({ length: 50 }, () => client.fstat(handle, `${dir}/f`)),
      ),
    );
    expect(isBlindsyncError(lost, "transient")).toBe(true);
    expect((lost as Error).message).toContain("Lost the sftp connection");
    expect(
      isBlindsyncError(await rejection(client.stat(dir)), "transient"),
    ).toBe(true);
  });

  it("matches pipelined replies to their requests by id", async () => {
    const { client, dir } = await session();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        writeFile(join(dir, `n${i}`), "x".repeat(i)),
      ),
    );
    const sizes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        client.stat(`${dir}/n${i}`).then((attrs) => attrs.size),
      ),
    );
    expect(sizes).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});
