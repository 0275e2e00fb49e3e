/**
 * What lands where in a snapshot: one source directory's contents sit at the root (rsync's
 * `SRC/`), several sources each under its own base name. The sources are checked here, once,
 * before anything is read: none given, one that cannot be stat-ed, or two with one base name
 * are usage errors.
 */
import type { BigIntStats } from "node:fs";
import { lstatSync } from "node:fs";
import { basename, resolve } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";
import type { TreeEntry } from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import type { ExcludeMatcher } from "./excludes.js";
import type { TreeSaver } from "./tree-saver.js";
import type { Walker } from "./walker.js";

/** A walk of the sources: the snapshot's root tree and, for one directory, its own stat. */
export interface WalkedRoot {
  readonly tree: BlobId;
  readonly root: BigIntStats | undefined;
}

/** The sources made absolute; a usage error when there is none. */
export function resolveSources(sources: readonly string[]): string[] {
  if (sources.length === 0)
    throw new BlindsyncError(
      "usage",
      "Nothing to back up: give at least one source",
    );
  return sources.map((source) => resolve(source));
}

/** Walks the (resolved) sources into the snapshot's root tree. */
export async function walkSources(
  walker: Walker,
  treeSaver: TreeSaver,
  sources: readonly string[],
  matcher: ExcludeMatcher,
): Promise<WalkedRoot> {
  const first = sources[0] as string;
  const firstStat = statSource(first);
  if (sources.length === 1 && firstStat.isDirectory()) {
    const tree = await walker.directory(
      Buffer.from(first),
      "",
      matcher.forSource(firstStat),
    );
    if (tree === undefined)
      throw new BlindsyncError(
        "failed",
        `Cannot read source directory "${first}"`,
      );
    return { tree, root: firstStat };
  }
  const names = new Set<string>();
  const entries: TreeEntry[] = [];
  for (const source of sources) {
    const name = basename(source);
    if (names.has(name)) {
      throw new BlindsyncError(
        "usage",
        `Two sources have the same name "${name}"`,
        {
          hint: "Each source is stored under its base name; back them up separately",
        },
      );
    }
    names.add(name);
    const entry = await walker.source(
      source,
      name,
      matcher.forSource(statSource(source)),
    );
    if (entry !== undefined) entries.push(entry);
  }
  return { tree: await treeSaver.save(entries), root: undefined };
}

function statSource(source: string): BigIntStats {
  try {
    return lstatSync(source, { bigint: true });
  } catch (error) {
    throw new BlindsyncError(
      "usage",
      `Cannot back up "${source}": ${describeError(error)}`,
      { cause: error },
    );
  }
}
