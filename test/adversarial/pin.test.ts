/**
 * The pin (issue 17, items 1 and 9): it moves only forward whoever writes it and however
 * their writes interleave, and the head it names may not vanish unnoticed once a newer head
 * exists, while an ordinary forget followed by a backup is no reason to refuse.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPin } from "../../src/repo/index.js";
import { PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const LOCATION = "/srv/some-repository";
const PIN_MODULE = join(PROJECT_ROOT, "dist/repo/cache/pin.js");

/**
 * A process that writes the pin through the built module: `mode` "forward" advances it from
 * head 1 to head `top` one by one; "stale" keeps reporting head 1 (a slow command that saw it
 * before a backup moved on) until `stopFile` exists, then once more.
 */
function writer(
  root: string,
  mode: "forward" | "stale",
  top: number,
  stopFile: string,
): Promise<number | null> {
  const script = `
    import { existsSync } from "node:fs";
    const { advancePin } = await import(${JSON.stringify(PIN_MODULE)});
    const [root, mode, top, stopFile] = process.argv.slice(1);
    const pin = (seq) => ({
      repositoryId: new Uint8Array(32).fill(1),
      keyCheckValue: new Uint8Array(32).fill(2),
      lastSeq: seq,
      lastHeadId: new Uint8Array(32).fill(seq % 256),
      generation: 0,
    });
    if (mode === "forward") {
      for (let seq = 1; seq <= Number(top); seq++) advancePin(root, ${JSON.stringify(LOCATION)}, pin(seq));
    } else {
      let writes = 0;
      while (!existsSync(stopFile)) { advancePin(root, ${JSON.stringify(LOCATION)}, pin(1)); writes++; }
      advancePin(root, ${JSON.stringify(LOCATION)}, pin(1));
      if (writes === 0) process.exit(3);
    }
  `;
  const child = spawn(
    process.execPath,
    ["--input-type=module", "-e", script, root, mode, String(top), stopFile],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      resolve(code);
    });
  });
}

describe("the pin", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir("blindsync-pin-");
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("two processes writing at once: a stale head written last never moves the pin back", async () => {
    const root = join(work, "writers");
    const stopFile = join(work, "stop");
    const stale = writer(root, "stale", 0, stopFile);
    const forward = writer(root, "forward", 150, stopFile);
    let highest = 0;
    const forwardState = { done: false };
    void forward.then(() => {
      forwardState.done = true;
    });
    // Reads beside both writers: the pin never goes down.
    while (!forwardState.done) {
      const seq = readPin(root, LOCATION)?.lastSeq ?? 0;
      expect(seq).toBeGreaterThanOrEqual(highest);
      highest = seq;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await forward).toBe(0);
    writeFileSync(stopFile, "");
    expect(await stale).toBe(0);
    expect(readPin(root, LOCATION)?.lastSeq).toBe(150);
    expect(readPin(root, LOCATION)?.lastHeadId).toEqual(
      new Uint8Array(32).fill(150),
    );
  });

  describe("a pinned head that vanished", () => {
    const cli = (args: string[], cacheDir: string) =>
      runCli(args, { cacheDir });

    it("a history rolled back below it and written over by another client exits 14 (snapshots, backup)", async () => {
      const dir = join(work, "vanished");
      const repo = join(dir, "repo");
      const source = join(dir, "source");
      const mine = join(dir, "cache-mine");
      const other = join(dir, "cache-other");
      mkdirSync(source, { recursive: true });
      expect((await cli(["init", repo], mine)).code).toBe(0);
      writeFileSync(join(source, "a.txt"), "one\n");
      expect((await cli(["backup", source, repo], mine)).code).toBe(0);
      cpSync(repo, join(dir, "copy"), { recursive: true });
      writeFileSync(join(source, "a.txt"), "two: pinned by this client\n");
      expect((await cli(["backup", source, repo], mine)).code).toBe(0);

      // The server puts back the copy from before head 2; another client writes 2' and 3'.
      rmSync(repo, { recursive: true });
      cpSync(join(dir, "copy"), repo, { recursive: true });
      for (const text of ["two prime\n", "three prime\n"]) {
        writeFileSync(join(source, "a.txt"), text);
        const written = await cli(["backup", source, repo], other);
        expect(written.code, written.stderr).toBe(0);
      }

      for (const args of [
        ["snapshots", repo],
        ["backup", source, repo],
      ]) {
        const result = await cli(args, mine);
        expect(result.code, result.stderr).toBe(14);
        expect(result.stderr).toMatch(/head 3 does not descend from it/);
        expect(result.stderr).not.toMatch(/\n\s+at /);
      }
    });

    it("an ordinary forget followed by backups, by another client and by this one, never exits 14", async () => {
      const dir = join(work, "forgotten");
      const repo = join(dir, "repo");
      const source = join(dir, "source");
      const mine = join(dir, "cache-mine");
      const other = join(dir, "cache-other");
      mkdirSync(source, { recursive: true });
      let round = 0;
      const backup = async (cache: string) => {
        round += 1;
        writeFileSync(join(source, "a.txt"), `round ${round}\n`);
        const result = await cli(["backup", source, repo], cache);
        expect(result.code, result.stderr).toBe(0);
      };
      const forget = async (cache: string) => {
        const result = await cli(["forget", repo, "--keep-last", "1"], cache);
        expect(result.code, result.stderr).toBe(0);
      };
      expect((await cli(["init", repo], mine)).code).toBe(0);
      await backup(mine);
      await backup(mine); // this client pins head 2
      // Another client: heads 3 and 4, a forget that keeps only 4 (2 and 3 go), head 5.
      await backup(other);
      await backup(other);
      await forget(other);
      await backup(other);
      // The pinned head 2 is gone and 4 names 3, also gone: a gap that forget left.
      const listed = await cli(["snapshots", repo], mine);
      expect(listed.code, listed.stderr).toBe(0);
      await backup(mine); // head 6, pinned here
      // This client forgets (5 goes) and backs up; the other client, pinned at 5, looks.
      await forget(mine);
      await backup(mine);
      for (const cache of [other, mine]) {
        const result = await cli(["check", repo], cache);
        expect(result.code, result.stderr).toBe(0);
      }
    });
  });
});
