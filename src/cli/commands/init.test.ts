import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshRepository } from "../../../test/helpers/command-context.js";
import { isBlindsyncError } from "../../errors.js";
import { runSnapshots } from "./browse.js";
import { runInit } from "./init.js";

const fresh = freshRepository();

describe("runInit()", () => {
  it("creates a repository, pins it in the cache and says where", async () => {
    await runInit(fresh.context, { repository: fresh.repository });
    const [created, keepSafe] = fresh.context.take();
    expect(created).toMatch(/^Created repository .* at ".*repo"$/);
    expect(keepSafe).toMatch(/Keep the passphrase safe/);
    expect(existsSync(join(fresh.dir, "cache"))).toBe(true);
    // The same client opens it at once: the pin written by init is the repository's.
    await expect(
      runSnapshots(fresh.context.with(), fresh.repository),
    ).resolves.toEqual([]);
  });

  it("prints one JSON object with the id under --json", async () => {
    const json = fresh.context.with({ json: true });
    await runInit(json, { repository: fresh.repository });
    expect(json.json()).toEqual([
      {
        type: "init",
        repository: fresh.repository,
        id: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      },
    ]);
  });

  it("refuses a second init at the same place, and ifMissing leaves it alone", async () => {
    await runInit(fresh.context, { repository: fresh.repository });
    await expect(
      runInit(fresh.context.with(), { repository: fresh.repository }),
    ).rejects.toMatchObject({
      kind: "failed",
      message: expect.stringContaining(
        "A repository already exists",
      ) as unknown,
    });
    const quiet = fresh.context.with();
    await runInit(quiet, { repository: fresh.repository, ifMissing: true });
    expect(quiet.take()).toEqual([]);
  });

  it("a bad BLINDSYNC_KDF_LOGN is a usage error that leaves no repository behind", async () => {
    const bad = fresh.context.with({ env: { BLINDSYNC_KDF_LOGN: "99" } });
    await expect(
      runInit(bad, { repository: fresh.repository }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: expect.stringContaining("BLINDSYNC_KDF_LOGN") as unknown,
    });
    expect(existsSync(fresh.repository)).toBe(false);
  });

  it("without a passphrase source it fails with a hint naming the ways to give one", async () => {
    const none = fresh.context.with({ env: { BLINDSYNC_PASSWORD: undefined } });
    const error: unknown = await runInit(none, {
      repository: fresh.repository,
    }).catch((caught: unknown) => caught);
    if (!isBlindsyncError(error)) throw error;
    expect(`${error.message} ${error.hint ?? ""}`).toMatch(
      /BLINDSYNC_PASSWORD/,
    );
  });
});
