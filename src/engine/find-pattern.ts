/**
 * The patterns of `find`, after restic's: shell globs (`*`, `?`, `[a-z]`, `[!a-z]`, `\x`)
 * matched one path component at a time, so `*` never crosses a `/`, and `**` stands for any
 * number of whole components. A pattern without `/` matches an entry's name; one with `/`
 * matches the end of its path (`docs/*.txt` finds every `.txt` directly in any `docs`); a
 * leading `/` anchors it at the snapshot root (`/docs/*.txt` only at the top).
 */
import { BlindsyncError } from "../errors.js";

/** One component of a compiled pattern: a glob for one name, or `**` (any number of names). */
type Part = RegExp | "**";

export interface PatternOptions {
  /** Compare names case-insensitively (restic's `--ignore-case`). */
  readonly ignoreCase?: boolean;
}

/** Regular-expression text for one glob component; throws 'usage' for an unclosed `[`. */
function componentSource(glob: string, whole: string): string {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const char = glob.charAt(i);
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else if (char === "\\" && i + 1 < glob.length) {
      i++;
      source += escapeRegExp(glob.charAt(i));
    } else if (char === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1)
        throw new BlindsyncError(
          "usage",
          `The pattern "${whole}" has a "[" without its "]"`,
          { hint: 'To find a literal "[", write "\\["' },
        );
      let body = glob.slice(i + 1, end);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      // Inside a class only "\", "]" and "^" are special to RegExp; "-" keeps its range meaning.
      const escaped = body.replace(/[\\\]^]/g, "\\$&");
      source += `[${negated ? "^" : ""}${escaped}]`;
      i = end;
    } else source += escapeRegExp(char);
  }
  return source;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** A compiled `find` pattern; see the module comment for what it matches. */
export class PathPattern {
  readonly text: string;
  private readonly parts: readonly Part[];

  constructor(text: string, options: PatternOptions = {}) {
    if (text === "" || /^\/+$/.test(text))
      throw new BlindsyncError(
        "usage",
        `The pattern "${text}" matches no name`,
        {
          hint: 'To list everything, use: blindsync ls REPO, or find "*"',
        },
      );
    this.text = text;
    const anchored = text.startsWith("/");
    const globs = text.split("/").filter((part) => part !== "");
    // "s": a name may hold a newline, and "?" and "*" match it like any other character.
    const flags = options.ignoreCase === true ? "isu" : "su";
    const parts: Part[] = globs.map((glob) =>
      glob === "**"
        ? "**"
        : new RegExp(`^${componentSource(glob, text)}$`, flags),
    );
    // Unanchored: the pattern may start below any directory.
    this.parts = anchored ? parts : ["**", ...parts];
  }

  /** True when the path (its components, root first) matches the whole pattern. */
  matches(components: readonly string[]): boolean {
    return matchFrom(this.parts, 0, components, 0);
  }

  /**
   * False when no path below `components` (a directory) can match, so the search may skip
   * the subtree: only an anchored pattern without `**` ever says so.
   */
  mayMatchBelow(components: readonly string[]): boolean {
    let index = 0;
    for (const component of components) {
      const part = this.parts[index];
      if (part === undefined) return false;
      if (part === "**") return true;
      if (!part.test(component)) return false;
      index++;
    }
    return index < this.parts.length;
  }
}

function matchFrom(
  parts: readonly Part[],
  p: number,
  components: readonly string[],
  c: number,
): boolean {
  if (p === parts.length) return c === components.length;
  const part = parts[p] as Part;
  if (part === "**") {
    // Zero or more whole components; patterns are short, so trying each split is cheap.
    for (let skip = c; skip <= components.length; skip++)
      if (matchFrom(parts, p + 1, components, skip)) return true;
    return false;
  }
  const component = components[c];
  if (component === undefined || !part.test(component)) return false;
  return matchFrom(parts, p + 1, components, c + 1);
}

/** A set of patterns: a path matches when any one does (restic's rule for several). */
export class PatternSet {
  readonly patterns: readonly PathPattern[];

  constructor(texts: readonly string[], options: PatternOptions = {}) {
    if (texts.length === 0)
      throw new BlindsyncError("usage", "Give at least one pattern to find");
    this.patterns = texts.map((text) => new PathPattern(text, options));
  }

  matches(components: readonly string[]): boolean {
    return this.patterns.some((pattern) => pattern.matches(components));
  }

  mayMatchBelow(components: readonly string[]): boolean {
    return this.patterns.some((pattern) => pattern.mayMatchBelow(components));
  }
}
