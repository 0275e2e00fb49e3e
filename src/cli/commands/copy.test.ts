import { appendFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { TEST_PASSWORD } from "../../../test/helpers/constants.js";
import {
  buildEdgeCaseTree,
  directoryDifferences,
} from "../../../test/helpers/trees.js";
import { isBlindsyncError, type BlindsyncError } from "../../errors.js";
import { exitCodeOf } from "../exit.js";
import { runBackup } from "./backup.js";
import { runSnapshots } from "./browse.js";
import { runCopy } from "./copy.js";
import { runInit } from "./init.js";
import { runRestore } from "./restore.js";

/** The destinations get a passphrase of their own: copy must keep the two apart. */
const DESTINATION_PASSWORD = "another passphrase entirely";

let context: TestContext;
let dir: string;
let cleanup: () => void;
let source: string;
let from: string;
let ids: string[];

/** The context copy runs in: the source's passphrase as BLINDSYNC_FROM_PASSWORD. */
function copyContext(json = false): TestContext {
  return context.with({
    json,
    env: {
      BLINDSYNC_PASSWORD: DESTINATION_PASSWORD,
      BLINDSYNC_FROM_PASSWORD: TEST_PASSWORD,
    },
  });
}

async function newDestination(name: string, packs = false): Promise<string> {
  const repository = join(dir, name);
  await runInit(copyContext(), { repository, ...(packs ? { packs } : {}) });
  return repository;
}

async function restoredDifferences(
  repository: string,
  snapshot = "latest",
): Promise<string[]> {
  const target = mkdtempSync(join(dir, "restored-"));
  await runRestore(copyContext(), { repository, target, snapshot });
  return directoryDifferences(source, target);
}

beforeAll(async () => {
  ({ context, dir, cleanup } = testContext());
  source = join(dir, "source");
  from = join(dir, "from");
  await buildEdgeCaseTree(source);
  await runInit(context.with(), { repository: from });
  ids = [];
  for (const tag of ["first", "second"]) {
    appendFileSync(join(source, "plain.txt"), `${tag}\n`);
    const { snapshot } = await runBackup(context.with(), {
      repository: from,
      sources: [source],
      tags: [tag],
    });
    ids.push(Buffer.from(snapshot!.id).toString("hex"));
  }
});

afterAll(() => {
  cleanup();
});

describe("runCopy()", () => {
  it("copies every snapshot with its time, host, paths and tags; the copy restores exactly; a re-run copies nothing", async () => {
    const to = await newDestination("to");
    const first = copyContext(true);
    const result = await runCopy(first, { from, to });
    expect(result.copied.map((copied) => copied.from.tags)).toEqual([
      ["first"],
      ["second"],
    ]);
    const sourceSnapshots = await runSnapshots(context.with(), from);
    const copies = await runSnapshots(copyContext(), to);
    expect(
      copies.map(({ time, host, paths, tags, root }) => ({
        time,
        host,
        paths,
        tags,
        root,
      })),
    ).toEqual(
      sourceSnapshots.map(({ time, host, paths, tags, root }) => ({
        time,
        host,
        paths,
        tags,
        root,
      })),
    );
    expect(
      copies.map(
        (copy) => copy.original && Buffer.from(copy.original).toString("hex"),
      ),
    ).toEqual(ids);
    // `snapshots --json` names each copy's original; the source's snapshots have none.
    const listed = copyContext(true);
    await runSnapshots(listed, to);
    const [copiesJson] = listed.json() as { original?: string }[][];
    expect(copiesJson?.map((copy) => copy.original)).toEqual(ids);
    const sourceListed = context.with({ json: true });
    await runSnapshots(sourceListed, from);
    const [sourceJson] = sourceListed.json() as { original?: string }[][];
    expect(sourceJson?.map((snapshot) => snapshot.original)).toEqual(
      ids.map(() => undefined),
    );
    expect(await restoredDifferences(to)).toEqual([]);

    const again = copyContext(true);
    const rerun = await runCopy(again, { from, to });
    expect(rerun).toMatchObject({
      copied: [],
      blobsRead: 0,
      blobsAdded: 0,
      trees: 0,
    });
    expect(
      again
        .json()
        .filter((line) => (line as { type: string }).type === "skipped"),
    ).toHaveLength(2);
    expect((await runSnapshots(copyContext(), to)).length).toBe(2);
  });

  it("copies into a pack directory, and a later copy reads only what changed", async () => {
    const to = await newDestination("to-packs", true);
    const older = await runCopy(copyContext(), { from, to, ids: [ids[0]!] });
    expect(older.copied).toHaveLength(1);
    const newer = await runCopy(copyContext(), { from, to });
    // Only plain.txt changed, and its bytes are inline in the root tree (tree format 4): that
    // tree is copied, no data blob is read; the rest is known from the first copy.
    expect(newer.copied).toHaveLength(1);
    expect(newer.skipped).toHaveLength(1);
    expect(newer.blobsRead).toBe(0);
    expect(await restoredDifferences(to)).toEqual([]);
  });

  it("names the repository whose passphrase is wrong, exit 12 for either", async () => {
    const to = await newDestination("to-wrong");
    const wrongSource = context.with({
      env: {
        BLINDSYNC_PASSWORD: DESTINATION_PASSWORD,
        BLINDSYNC_FROM_PASSWORD: "nope",
      },
    });
    const wrongDestination = context.with({
      env: {
        BLINDSYNC_PASSWORD: "nope",
        BLINDSYNC_FROM_PASSWORD: TEST_PASSWORD,
      },
    });
    for (const [who, ctx] of [
      ["source", wrongSource],
      ["destination", wrongDestination],
    ] as const) {
      const failure = await runCopy(ctx, { from, to }).catch(
        (error: unknown) => error,
      );
      expect(isBlindsyncError(failure, "wrong-passphrase")).toBe(true);
      const { kind, message } = failure as BlindsyncError;
      expect(message).toContain(`Cannot open the ${who} repository`);
      expect(exitCodeOf(kind)).toBe(12);
    }
    expect(await runSnapshots(copyContext(), to)).toEqual([]);
  });

  it("refuses to copy a repository into itself", async () => {
    await expect(
      runCopy(copyContext(), { from, to: from }),
    ).rejects.toMatchObject({
      kind: "usage",
    });
  });
});
