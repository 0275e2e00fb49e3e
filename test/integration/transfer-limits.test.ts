/**
 * `--limit-upload` and `--limit-download` (KiB/s) through the commands: the objects of a pack
 * repository, the blobs of a local SQLite repository (the pipe to `serve` over ssh is tested
 * in src/store/limits/limits.test.ts, without spawning: a spawned ssh and serve alone take
 * seconds on a loaded machine, which would hide the limit). Each transfer is small and each
 * limit low, so that the time the limit implies (1.2 s) is well above what the same transfer
 * takes unlimited (about 0.45 s here with both cores busy).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runRestore } from "../../src/cli/commands/restore.js";
import { freshRepository } from "../helpers/command-context.js";
import { seededBytes } from "../helpers/prng.js";

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
      runRestore(fresh.context.with({ globals: { limitDownloadKiBps: 160 } }), {
        repository: fresh.repository,
        target: join(fresh.dir, "restored"),
      }),
    );
    expect(took).toBeGreaterThanOrEqual(1200 - TIMER_SLACK_MS);
  });

  it("--limit-upload holds a backup into a local SQLite repository to the rate", async () => {
    await runInit(fresh.context.with(), { repository: fresh.repository });
    writeFileSync(join(fresh.source, "random.bin"), seededBytes(9, 192 * 1024));
    const took = await timed(() =>
      runBackup(fresh.context.with({ globals: { limitUploadKiBps: 160 } }), {
        repository: fresh.repository,
        sources: [fresh.source],
      }),
    );
    expect(took).toBeGreaterThanOrEqual(1200 - TIMER_SLACK_MS);
  });
});
