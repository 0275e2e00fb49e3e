/**
 * The second step of `npm run build`, after tsc: bundles the command line into a few files.
 *
 * Every blindsync command starts by loading its modules, about 250 of them; Node 20's module
 * loader spends about 1.5 ms of CPU on each (resolve, stat, read, compile), so `blindsync
 * --version` cost 0.6 s of CPU where node alone costs 0.15 s, and every `snapshots`, `ls`, a
 * backup with nothing to do and each ssh connection's `serve` paid it (docs/performance.md,
 * "Start-up"). Bundled, the same code loads as a handful of files.
 *
 * - dist/cli/main.js, the entry that bin/blindsync.js, the tests, the benchmark and the ssh
 *   command line run, is replaced by the bundle; what main.ts imports on demand (the program,
 *   `serve`, the interrupt handling, the S3 store) stays on demand, as chunks beside it.
 * - dist/cli/seal-worker.js: the sealing thread, which seal-pool.ts starts from beside itself.
 * - Packages stay in node_modules (native addons, the AWS SDK loaded only for S3).
 * - The rest of dist/ is tsc's output as before: tests that load a built module by path use it.
 *
 * Names are kept (keepNames) so that an error's or class's name is the source's, and nothing is
 * minified, so that `-v` stack traces stay readable.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, URL } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = join(root, "dist", "cli");

// Chunk names carry a content hash: the previous build's would pile up. tsc's source map of
// main.js would describe the file the bundle replaces.
for (const name of readdirSync(outdir))
  if (
    (name.startsWith("chunk-") && name.endsWith(".js")) ||
    name === "main.js.map"
  )
    rmSync(join(outdir, name));

await build({
  absWorkingDir: root,
  entryPoints: {
    main: "src/cli/main.ts",
    "seal-worker": "src/engine/backup/seal-worker.ts",
  },
  outdir,
  chunkNames: "chunk-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  keepNames: true,
  logLevel: "warning",
});
