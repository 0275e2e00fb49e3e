/**
 * `--limit-upload` and `--limit-download` (KiB/s) at each store's byte stream: the pipe to
 * `serve` over ssh, the objects of a pack repository, the blobs of a local SQLite repository.
 * Each transfer is small and each limit low, so that the time the limit implies (a second or
 * so) is well above what the same transfer takes unlimited.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runRestore } from "../../src/cli/commands/restore.js";
import { freshRepository } from "../helpers/command-context.js";
import { seededBytes } from "../helpers/prng.js";
import { throttledRepository } from "../helpers/throttled.js";

/**
 * Timers may fire a millisecond or so before the wait they were set for, as measured by
 * performance.now(): the bounds below allow for that and nothing more.
 */
const TIMER_SLACK_MS = 20;

const fresh = freshRepository({ source: { "small.txt": "small\n" } });

/** Milliseconds `work` takes. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

describe("transfer limits", () => {
  it("--limit-upload holds a backup over ssh to the rate (the pipe to serve)", async () => {
    await runInit(fresh.context.with(), { repository: fresh.repository });
    // Random, so compression saves nothing: at least 384 KiB cross the pipe.
    writeFileSync(join(fresh.source, "random.bin"), seededBytes(7, 384 * 1024));
    // A stand-in ssh running serve on this machine, at no rate of its own.
    const remote = throttledRepository(fresh.repository, 1e12);
    const took = await timed(() =>
      runBackup(
        fresh.context.with({
          env: remote.env,
          globals: { limitUploadKiBps: 256 },
        }),
        { repository: remote.location, sources: [fresh.source] },
      ),
    );
    expect(took).toBeGreaterThanOrEqual(1500 - TIMER_SLACK_MS);
  });

  it("--limit-download holds a restore from a pack repository to the rate", async () => {
    await runInit(fresh.context.with(), {
      repository: fresh.repository,
      packs: true,
    });
    writeFileSync(join(fresh.source, "random.bin"), seededBytes(8, 192 * 1024));
    await runBackup(fresh.context.with(), {
      repository: fresh.repository,
      sources: [fresh.source],
    });
    const took = await timed(() =>
      runRestore(fresh.context.with({ globals: { limitDownloadKiBps: 256 } }), {
        repository: fresh.repository,
        target: join(fresh.dir, "restored"),
      }),
    );
    expect(took).toBeGreaterThanOrEqual(750 - TIMER_SLACK_MS);
  });

  it("--limit-upload holds a backup into a local SQLite repository to the rate", async () => {
    await runInit(fresh.context.with(), { repository: fresh.repository });
    writeFileSync(join(fresh.source, "random.bin"), seededBytes(9, 192 * 1024));
    const took = await timed(() =>
      runBackup(fresh.context.with({ globals: { limitUploadKiBps: 256 } }), {
        repository: fresh.repository,
        sources: [fresh.source],
      }),
    );
    expect(took).toBeGreaterThanOrEqual(750 - TIMER_SLACK_MS);
  });
});
