/**
 * Builds dist/ once before the tests, as `npm run build` does (tsc, then scripts/bundle.js):
 * integration tests run the real `blindsync` executable (and `blindsync serve` behind sshd),
 * never the TypeScript sources through a loader.
 * A type error does not stop the run here (tsc still emits, and `npm test` typechecks on its
 * own), so one broken file does not hide every other test's result.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const result = spawnSync(
    process.execPath,
    ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  if (result.status !== 0) {
    process.stderr.write(
      `warning: the build reported errors; integration tests use what it emitted\n${result.stdout}`,
    );
  }
  // The second half of `npm run build`: the bundle that dist/cli/main.js becomes. Unlike tsc
  // it stops at a broken file, and then the tests would run the unbundled entry: say so.
  const bundle = spawnSync(process.execPath, ["scripts/bundle.js"], {
    cwd: root,
    encoding: "utf8",
  });
  if (bundle.status !== 0) {
    process.stderr.write(
      `warning: the bundle step failed; the tests run tsc's dist/cli/main.js\n${bundle.stderr}`,
    );
  }
}
