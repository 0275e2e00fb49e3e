/**
 * What a restore of a damaged repository must produce: the source everywhere but the damaged
 * paths, no temporary debris, and a clean exit 13 naming each damaged file.
 */
import { expect } from "vitest";
import { isCleanError, runCli } from "./cli.js";
import { restoreDebris } from "./files.js";
import { describeTree, treeDifferences, type Described } from "./trees.js";

/** True when `key` (describeTree's hex of a relative path) is `path` or lies below it. */
function isAtOrBelow(key: string, path: string): boolean {
  const rel = Buffer.from(key, "hex").toString("utf8");
  return rel === path || rel.startsWith(`${path}/`);
}

/**
 * What a restore should have produced when `damaged` paths (files, or directories with all they
 * hold) could not be restored: the source everywhere else, and at the damaged paths what the
 * target held before (`before`), or nothing for a fresh target.
 */
export function expectedAfterDamage(
  source: Map<string, Described>,
  damaged: readonly string[],
  before: Map<string, Described> | undefined,
): Map<string, Described> {
  const hit = (key: string) => damaged.some((path) => isAtOrBelow(key, path));
  const expected = new Map<string, Described>();
  for (const [key, value] of source) if (!hit(key)) expected.set(key, value);
  if (before !== undefined)
    for (const [key, value] of before) if (hit(key)) expected.set(key, value);
  return expected;
}

/**
 * Restores `repo` into the new directory `target` through the CLI and asserts what every damage
 * case expects of it: exit 13, a clean one-line error naming each damaged file, no temporary
 * debris, and every other file exactly as `source` describes it.
 */
export async function expectRestoreSkipsDamaged(options: {
  readonly repo: string;
  readonly target: string;
  readonly cacheDir: string;
  readonly source: Map<string, Described>;
  readonly damagedPaths: readonly string[];
}): Promise<void> {
  const restore = await runCli(["restore", options.repo, options.target], {
    cacheDir: options.cacheDir,
  });
  expect(restore.code, restore.stderr).toBe(13);
  expect(isCleanError(restore.stderr)).toBe(true);
  for (const path of options.damagedPaths)
    expect(restore.stderr).toContain(path);
  expect(restoreDebris(options.target)).toStrictEqual([]);
  expect(
    treeDifferences(
      expectedAfterDamage(options.source, [...options.damagedPaths], undefined),
      describeTree(options.target),
    ),
  ).toStrictEqual([]);
}
