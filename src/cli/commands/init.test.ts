import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { isBlindsyncError } from "../../errors.js";
import { runSnapshots } from "./browse.js";
import { runInit } from "./init.js";

let context: TestContext;
let dir: string;
let cleanup: () => void;
let repository: string;

beforeEach(() => {
  ({ context, dir, cleanup } = testContext());
  repository = join(dir, "repo");
});
afterEach(() => {
  cleanup();
});

describe("runInit()", () => {
  it("creates a repository, pins it in the cache and says where", async () => {
    await runInit(context, { repository });
    const [created, keepSafe] = context.take();
    expect(created).toMatch(/^Created repository .* at ".*repo"$/);
    expect(keepSafe).toMatch(/Keep the passphrase safe/);
    expect(existsSync(join(dir, "cache"))).toBe(true);
    // The same client opens it at once: the pin written by init is the repository's.
    await expect(runSnapshots(context.with(), repository)).resolves.toEqual([]);
  });

  it("prints one JSON object with the id under --json", async () => {
    const json = context.with({ json: true });
    await runInit(json, { repository });
    expect(json.json()).toEqual([
      {
        type: "init",
        repository,
        id: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      },
    ]);
  });

  it("refuses a second init at the same place, and ifMissing leaves it alone", async () => {
    await runInit(context, { repository });
    await expect(runInit(context.with(), { repository })).rejects.toMatchObject(
      {
        kind: "failed",
        message: expect.stringContaining(
          "A repository already exists",
        ) as unknown,
      },
    );
    const quiet = context.with();
    await runInit(quiet, { repository, ifMissing: true });
    expect(quiet.take()).toEqual([]);
  });

  it("a bad BLINDSYNC_KDF_LOGN is a usage error that leaves no repository behind", async () => {
    const bad = context.with({ env: { BLINDSYNC_KDF_LOGN: "99" } });
    await expect(runInit(bad, { repository })).rejects.toMatchObject({
      kind: "usage",
      message: expect.stringContaining("BLINDSYNC_KDF_LOGN") as unknown,
    });
    expect(existsSync(repository)).toBe(false);
  });

  it("without a passphrase source it fails with a hint naming the ways to give one", async () => {
    const none = context.with({ env: { BLINDSYNC_PASSWORD: undefined } });
    const error: unknown = await runInit(none, { repository }).catch(
      (caught: unknown) => caught,
    );
    if (!isBlindsyncError(error)) throw error;
    expect(`${error.message} ${error.hint ?? ""}`).toMatch(
      /BLINDSYNC_PASSWORD/,
    );
  });
});
