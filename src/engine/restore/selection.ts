/**
 * What a restore writes: `--include` and `--exclude`. An include that is a plain path keeps its
 * exact-name meaning (includes.ts: a trie, so names that are not UTF-8 still match); one with a
 * wildcard (`*`, `?`, `[`), a leading `!` or a backslash is a gitignore-style pattern, matched
 * with backup's own ExcludeMatcher so both commands read patterns alike. Excludes are patterns
 * always. Paths are relative to the snapshot root.
 *
 * The walk asks child() for each entry: undefined leaves it out; a whole scope restores the
 * entry and everything below it (but for excludes); a partial scope is a directory the walk must
 * enter to look for matches, created only once something in it is restored.
 */
import { ExcludeMatcher } from "../backup/index.js";
import { nameKey } from "../fs-names.js";
import { asBuffer } from "./fs-ops.js";
import {
  parseIncludes,
  unmatchedIncludes,
  type IncludeNode,
} from "./includes.js";

export interface Scope {
  /** Path from the snapshot root as patterns see it ('' at the root; built only for patterns). */
  readonly relative: string;
  /** Everything below is restored, but for what an exclude names. */
  readonly whole: boolean;
  /** The include trie's node here, when plain include paths lead through this directory. */
  readonly node: IncludeNode | undefined;
}

const WHOLE: Scope = { relative: "", whole: true, node: undefined };

/** True for an include written as a pattern rather than as a plain path. */
export function isPattern(spec: string): boolean {
  return spec.startsWith("!") || /[*?[\\]/.test(spec);
}

/** Patterns matched as one gitignore set, remembering which of them ever selected something. */
class PatternSet {
  private readonly combined: ExcludeMatcher;
  /** Negations select nothing by themselves, so only positive patterns are tracked. */
  private readonly pending: { pattern: string; matcher: ExcludeMatcher }[];

  constructor(patterns: readonly string[]) {
    this.combined = ExcludeMatcher.fromPatterns(patterns);
    this.pending = patterns
      .filter((pattern) => pattern.trim() !== "" && !pattern.startsWith("!"))
      .map((pattern) => ({
        pattern,
        matcher: ExcludeMatcher.fromPatterns([pattern]),
      }));
  }

  get tracking(): boolean {
    return this.pending.length > 0;
  }

  /** Whether the set matches; a pattern counts as used only when the set as a whole matches. */
  matches(relative: string, isDirectory: boolean): boolean {
    if (!this.combined.excludesPath(relative, isDirectory)) return false;
    for (let index = this.pending.length - 1; index >= 0; index--) {
      const one = this.pending[index];
      if (one?.matcher.excludesPath(relative, isDirectory) === true)
        this.pending.splice(index, 1);
    }
    return true;
  }

  unused(): string[] {
    return this.pending.map((one) => one.pattern).reverse();
  }
}

export class Selection {
  private constructor(
    private readonly trie: IncludeNode | undefined,
    private readonly includes: PatternSet | undefined,
    private readonly excludes: PatternSet | undefined,
  ) {}

  /** Throws 'usage' for an include path that leaves the snapshot root (includes.ts). */
  static parse(
    include: readonly string[] = [],
    exclude: readonly string[] = [],
  ): Selection {
    const patterns = include.filter(isPattern);
    const paths = include.filter((spec) => !isPattern(spec));
    const trie = parseIncludes(paths);
    // An include of the root itself ("." or "/") restores everything, as it always has.
    const everything = paths.length > 0 && trie === undefined;
    const usefulExcludes = exclude.filter((pattern) => pattern.trim() !== "");
    return new Selection(
      everything ? undefined : trie,
      everything || patterns.length === 0
        ? undefined
        : new PatternSet(patterns),
      usefulExcludes.length === 0 ? undefined : new PatternSet(usefulExcludes),
    );
  }

  /** True when some include narrows the restore (the snapshot's totals then do not apply). */
  get narrowed(): boolean {
    return this.trie !== undefined || this.includes !== undefined;
  }

  root(): Scope {
    return this.narrowed
      ? { relative: "", whole: false, node: this.trie }
      : WHOLE;
  }

  /** The scope of the entry `name` in a directory of scope `scope`; undefined leaves it out. */
  child(
    scope: Scope,
    name: Uint8Array,
    isDirectory: boolean,
  ): Scope | undefined {
    // Below a whole directory with no exclude to apply and no include left to account for,
    // nothing needs the path.
    if (
      scope.whole &&
      this.excludes === undefined &&
      this.includes?.tracking !== true
    )
      return WHOLE;
    const usesPatterns =
      this.excludes !== undefined || this.includes !== undefined;
    const relative = usesPatterns ? childRelative(scope.relative, name) : "";
    if (this.excludes?.matches(relative, isDirectory) === true)
      return undefined;
    if (scope.whole) {
      // Only to learn which include patterns selected something below a whole directory.
      if (this.includes?.tracking === true)
        this.includes.matches(relative, isDirectory);
      return { relative, whole: true, node: undefined };
    }
    let whole = this.includes?.matches(relative, isDirectory) === true;
    let node: IncludeNode | undefined;
    const reached = scope.node?.children.get(nameKey(name));
    if (reached !== undefined) {
      reached.matched = true;
      if (reached.whole !== undefined) whole = true;
      // A leading directory only; a file here means the include path goes through something
      // that is not a directory, and is reported as matching nothing below it.
      else if (isDirectory) node = reached;
    }
    if (whole) return { relative, whole: true, node: undefined };
    if (isDirectory && (node !== undefined || this.includes !== undefined))
      return { relative, whole: false, node };
    return undefined;
  }

  /** Include paths and patterns that selected nothing, as the user gave them. */
  unmatched(): string[] {
    return [
      ...(this.trie === undefined ? [] : unmatchedIncludes(this.trie)),
      ...(this.includes?.unused() ?? []),
    ];
  }

  /** Exclude patterns that left nothing out. */
  unusedExcludes(): string[] {
    return this.excludes?.unused() ?? [];
  }
}

function childRelative(relative: string, name: Uint8Array): string {
  const text = asBuffer(name).toString("utf8");
  return relative === "" ? text : `${relative}/${text}`;
}
