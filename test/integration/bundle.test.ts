/**
 * The command everyone runs, dist/cli/main.js, is the bundle scripts/bundle.js makes after tsc:
 * a handful of files to load instead of about 250 modules, each of which cost Node's loader
 * about 1.5 ms of CPU at every start (docs/performance.md, "Start-up"). And the bundle's
 * sealing thread starts from beside it: seal-pool.ts quietly seals on the main thread when its
 * worker's file is missing, so only a look at which worker starts can tell.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

let work: string;

beforeAll(async () => {
  work = await tempDir("blindsync-bundle-");
});

afterAll(async () => {
  await removeDir(work);
});

describe("the built command line", () => {
  it("loads a handful of the project's own files to start, not one per module", async () => {
    // A module loader hook that names every file the process loads from dist/.
    const hooks = join(work, "hooks.mjs");
    writeFileSync(
      hooks,
      `export async function load(url, context, next) {
  if (url.includes("/dist/")) process.stderr.write("loaded " + url + "\\n");
  return next(url, context);
}\n`,
    );
    const register = join(work, "register.mjs");
    writeFileSync(
      register,
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    const result = await runCli(["--version"], {
      cacheDir: join(work, "cache"),
      env: { NODE_OPTIONS: `--import=${register}` },
    });
    expect(result.code, result.stderr).toBe(0);
    const loaded = result.stderr
      .split("\n")
      .filter((line) => line.startsWith("loaded "));
    // The entry and the chunks it needs; tsc's output alone loads over 200.
    expect(loaded.length).toBeGreaterThan(0);
    expect(loaded.length).toBeLessThan(20);
  });

  it("starts its sealing worker from dist/cli/seal-worker.js, and the backup it seals checks clean", async () => {
    const source = join(work, "source");
    const repo = join(work, "repo");
    const cacheDir = join(work, "cache-backup");
    mkdirSync(source);
    writeFileSync(join(source, "big.bin"), seededBytes(7, 3 * 1024 * 1024));
    writeFileSync(join(source, "small.txt"), seededBytes(8, 5000));
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
    // Node's own debug log names each worker it instantiates, and the file it runs.
    const backup = await runCli(["backup", source, repo], {
      cacheDir,
      env: { NODE_DEBUG: "worker", BLINDSYNC_WORKERS: "1" },
    });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(
      /instantiating Worker\. url: file:\/\/\S*\/dist\/cli\/seal-worker\.js/,
    );
    const check = await runCli(["check", "--read-data", repo], { cacheDir });
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });
});
