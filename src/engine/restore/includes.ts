/** `--include`: which subtrees of the snapshot a restore writes, as a trie of names. */
import { BlindsyncError } from "../../errors.js";
import { nameKey } from "../fs-names.js";

export interface IncludeNode {
  /** The include path given by the user that ends here, if one does. */
  whole: string | undefined;
  /** Set by the walk when the snapshot has this name. */
  matched: boolean;
  readonly children: Map<string, IncludeNode>;
}

/** "all" restores everything below; a node restores only its children (leading directories). */
export type Selection = "all" | IncludeNode;

function newIncludeNode(): IncludeNode {
  return { whole: undefined, matched: false, children: new Map() };
}

/** Builds the include trie; undefined means the whole snapshot. Throws 'usage' for `..`. */
export function parseIncludes(
  include: readonly string[] | undefined,
): IncludeNode | undefined {
  if (include === undefined || include.length === 0) return undefined;
  const root = newIncludeNode();
  for (const path of include) {
    if (path.includes("\0")) {
      throw new BlindsyncError(
        "usage",
        `Include path "${path}" contains a NUL byte`,
      );
    }
    const parts = path.split("/").filter((part) => part !== "" && part !== ".");
    if (parts.includes("..")) {
      throw new BlindsyncError(
        "usage",
        `Include path "${path}" leaves the snapshot root`,
        {
          hint: "Give paths relative to the snapshot root, without ..",
        },
      );
    }
    if (parts.length === 0) return undefined;
    let node = root;
    for (const part of parts) {
      const key = nameKey(Buffer.from(part));
      let child = node.children.get(key);
      if (child === undefined) {
        child = newIncludeNode();
        node.children.set(key, child);
      }
      node = child;
    }
    node.whole = path;
  }
  return root;
}

/** The include paths, as the user gave them, that the walk never reached, in trie order. */
export function unmatchedIncludes(node: IncludeNode): string[] {
  const found: string[] = [];
  if (node.whole !== undefined && !node.matched) found.push(node.whole);
  for (const child of node.children.values())
    found.push(...unmatchedIncludes(child));
  return found;
}
