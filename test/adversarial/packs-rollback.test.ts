/**
 * T4 and the keyless records on a pack directory (issue 19): storage that shows an older
 * `snapshots/` listing (the newest snapshot objects deleted, or the whole directory put back
 * from an older copy), another repository at the same path, a snapshot object holding another
 * snapshot's bytes, and an edited key slot or config. A client that saw the newer state refuses
 * with exit 14 before writing anything (the storage's bytes are unchanged); an edited snapshot
 * object is skipped with a warning by a new client and named by check (13); an edited key slot
 * opens nothing (12) and an edited config is an integrity error (13), each one clean line.
 */
import {
  cpSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCleanError, jsonProblems, runCli } from "../helpers/cli.js";
import { fingerprint } from "../helpers/files.js";
import { flipByte } from "../helpers/pack-files.js";
import {
  newPackRound,
  pristinePacks,
  type PristinePacks,
} from "../helpers/pack-pristine.js";
import { removeDir, tempDir } from "../helpers/trees.js";

let work: string;
let pristine: PristinePacks;

beforeAll(async () => {
  work = await tempDir("blindsync-packs-rollback-");
  pristine = await pristinePacks(work);
});

afterAll(async () => {
  await removeDir(work);
});

function snapshotId(index: number): string {
  const id = pristine.layout.snapshots[index];
  if (id === undefined) throw new Error(`no snapshot ${index}`);
  return id;
}

describe("rollback and edited records in a pack directory", () => {
  it("the newest snapshot objects deleted: a client that saw head 3 refuses backup, restore and snapshots with 14 and writes nothing", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    rmSync(join(round.repo, "snapshots", snapshotId(2)));
    rmSync(join(round.repo, "snapshots", snapshotId(1)));
    const before = fingerprint(round.repo);
    for (const args of [
      ["backup", pristine.source, round.repo],
      ["restore", round.repo, join(round.dir, "target")],
      ["snapshots", round.repo],
    ]) {
      const result = await round.cli(args);
      expect(result.code, `${args[0] ?? ""}: ${result.stderr}`).toBe(14);
      expect(result.stderr).toMatch(
        /shows head 1 but this client has seen head 3/,
      );
      expect(isCleanError(result.stderr)).toBe(true);
      expect(fingerprint(round.repo)).toStrictEqual(before);
    }
    expect(fingerprint(join(round.dir, "target"))).toStrictEqual(["<absent>"]);
  });

  it("the whole directory put back from a copy taken after the first backup is refused (14), and the real one is accepted again", async () => {
    const round = newPackRound(work, pristine);
    const old = join(round.dir, "old");
    // The copy a storage owner kept after backup 1: its snapshot, its packs and segment.
    cpSync(round.repo, old, { recursive: true });
    for (const index of [1, 2]) {
      rmSync(join(old, "snapshots", snapshotId(index)));
      for (const pack of [pristine.dataPacks[index], pristine.treePacks[index]])
        rmSync(join(old, "packs", pack?.id.slice(0, 2) ?? "", pack?.id ?? ""));
      rmSync(join(old, "index", pristine.segments[index]?.id ?? ""));
    }
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    const real = join(round.dir, "real");
    cpSync(round.repo, real, { recursive: true });
    rmSync(round.repo, { recursive: true });
    cpSync(old, round.repo, { recursive: true });
    const backup = await round.cli(["backup", pristine.source, round.repo]);
    expect(backup.code, backup.stderr).toBe(14);
    const listed = await round.cli(["snapshots", round.repo]);
    expect(listed.code, listed.stderr).toBe(14);
    rmSync(round.repo, { recursive: true });
    cpSync(real, round.repo, { recursive: true });
    const again = await round.cli(["snapshots", round.repo]);
    expect(again.code, again.stderr).toBe(0);
  });

  it("another pack repository at the same path is refused as foreign (14)", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    const other = join(round.dir, "other");
    const init = await runCli(["init", "--packs", other], {
      cacheDir: join(round.dir, "other-cache"),
    });
    expect(init.code, init.stderr).toBe(0);
    rmSync(round.repo, { recursive: true });
    cpSync(other, round.repo, { recursive: true });
    const listed = await round.cli(["snapshots", round.repo]);
    expect(listed.code, listed.stderr).toBe(14);
    expect(isCleanError(listed.stderr)).toBe(true);
    const backup = await round.cli(["backup", pristine.source, round.repo]);
    expect(backup.code, backup.stderr).toBe(14);
  });

  it("the head snapshot's object holding another snapshot's bytes: a client that saw it refuses (14), a new client skips it with a warning, and check names it (13)", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    const head = snapshotId(2);
    writeFileSync(
      join(round.repo, "snapshots", head),
      readFileSync(join(round.repo, "snapshots", snapshotId(0))),
    );
    const pinned = await round.cli(["snapshots", round.repo]);
    expect(pinned.code, pinned.stderr).toBe(14);
    const fresh = join(round.dir, "fresh-cache");
    const listed = await round.cli(["--json", "snapshots", round.repo], fresh);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toContain(
      `warning: snapshot blob ${head.slice(0, 16)} skipped`,
    );
    expect(
      (JSON.parse(listed.stdout) as { id: string }[]).map((s) => s.id),
    ).not.toContain(head);
    const check = await round.cli(["--json", "check", round.repo], fresh);
    expect(check.code, check.stderr).toBe(13);
    expect(
      jsonProblems(check.stdout).map((problem) => [problem.kind, problem.id]),
    ).toContainEqual(["undecodable-snapshot", head]);
  });

  it("an edited key slot opens nothing (12) and an edited config is an integrity error (13), for a client that knew them and a new one", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    const [slot] = readdirSync(join(round.repo, "keys"));
    const slotPath = join(round.repo, "keys", slot ?? "");
    const slotBytes = readFileSync(slotPath);
    flipByte(slotPath, Math.floor(slotBytes.length / 2));
    for (const cache of [round.cacheDir, join(round.dir, "fresh-1")]) {
      const result = await round.cli(["snapshots", round.repo], cache);
      expect(result.code, result.stderr).toBe(12);
      expect(isCleanError(result.stderr)).toBe(true);
    }
    writeFileSync(slotPath, slotBytes);
    const configPath = join(round.repo, "config");
    flipByte(configPath, Math.floor(readFileSync(configPath).length / 2));
    for (const cache of [round.cacheDir, join(round.dir, "fresh-2")]) {
      const result = await round.cli(["snapshots", round.repo], cache);
      expect(result.code, result.stderr).toBe(13);
      expect(result.stderr).toMatch(/config failed authentication/);
      expect(isCleanError(result.stderr)).toBe(true);
    }
  });
});
