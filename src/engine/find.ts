/**
 * `find` across snapshots: every entry whose path matches a PatternSet (find-pattern.ts), per
 * snapshot, oldest first, parents before children. Snapshots share most of their trees, so
 * what a subtree at a given path holds is remembered: a subtree without matches is never
 * read twice, and one with matches is read again only after the remembered matches pass a
 * budget (memory stays bounded on huge repositories searched for "*").
 */
import type { Repository, Snapshot, TreeEntry } from "../repo/index.js";
import type { BlobId } from "../store/index.js";
import { toHex } from "../util/bytes.js";
import type { PatternSet } from "./find-pattern.js";

export interface FoundEntry {
  readonly snapshot: Snapshot;
  /** Relative to the snapshot root, as bytes joined by '/' (as `ls` shows it). */
  readonly path: Buffer;
  readonly entry: TreeEntry;
}

interface Match {
  readonly path: Buffer;
  readonly entry: TreeEntry;
}

/** Matches remembered across snapshots at most: beyond it subtrees with matches are re-read. */
const REMEMBERED_MATCHES = 100_000;

const SLASH = Buffer.from("/");

class Finder {
  /** Key: subtree id and the path it sits at; value: the matches strictly below it. */
  private readonly known = new Map<string, readonly Match[]>();
  private remembered = 0;
  private readonly repo: Repository;
  private readonly patterns: PatternSet;

  constructor(repo: Repository, patterns: PatternSet) {
    this.repo = repo;
    this.patterns = patterns;
  }

  async *below(
    tree: BlobId,
    components: readonly string[],
    path: Buffer,
  ): AsyncGenerator<Match> {
    const key = `${toHex(tree)}\0${path.toString("latin1")}`;
    const known = this.known.get(key);
    if (known !== undefined) {
      yield* known;
      return;
    }
    const found: Match[] = [];
    for (const entry of (await this.repo.loadTree(tree)).entries) {
      const name = Buffer.from(entry.name);
      const childComponents = [...components, name.toString("utf8")];
      const childPath =
        path.length === 0 ? name : Buffer.concat([path, SLASH, name]);
      if (this.patterns.matches(childComponents)) {
        const match = { path: childPath, entry };
        found.push(match);
        yield match;
      }
      if (
        entry.type === "dir" &&
        this.patterns.mayMatchBelow(childComponents)
      ) {
        for await (const match of this.below(
          entry.subtree,
          childComponents,
          childPath,
        )) {
          found.push(match);
          yield match;
        }
      }
    }
    // Reached only when the caller read everything: a partial list is never remembered.
    if (
      found.length === 0 ||
      this.remembered + found.length <= REMEMBERED_MATCHES
    ) {
      this.remembered += found.length;
      this.known.set(key, found);
    }
  }
}

/** Every entry of `snapshots` (in the order given) whose path matches `patterns`. */
export async function* findInSnapshots(
  repo: Repository,
  snapshots: readonly Snapshot[],
  patterns: PatternSet,
): AsyncGenerator<FoundEntry> {
  const finder = new Finder(repo, patterns);
  for (const snapshot of snapshots) {
    for await (const match of finder.below(snapshot.tree, [], Buffer.alloc(0)))
      yield { snapshot, ...match };
  }
}
