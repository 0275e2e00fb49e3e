/**
 * `blindsync serve`: what ssh runs on the server. It exposes a SqliteStore over the protocol on
 * stdin/stdout. The repository path arrives inside the protocol (so a forced command in
 * authorized_keys works unchanged) and is resolved and checked against every
 * --restrict-to-path before anything is opened or created.
 */

import { realpath } from "node:fs/promises";
import { homedir } from "node:os";
import {
  basename,
  dirname,
  isAbsolute,
  join,
  relative,
  resolve,
} from "node:path";
import type { Readable, Writable } from "node:stream";
import { BlindsyncError, describeError } from "../../errors.js";
import { SqliteStore } from "../sqlite/sqlite-store.js";
import { serveConnection } from "./server.js";

export interface RunServeOptions {
  readonly input: Readable;
  readonly output: Writable;
  readonly log: (line: string) => void;
  /** Repositories must lie in one of these directories (none given: anywhere). */
  readonly restrictToPaths: readonly string[];
  /** Refuse every delete and overwrite, in this process and in the database. */
  readonly appendOnly: boolean;
  /** Base of relative paths; sshd starts commands in the home directory. Default: cwd. */
  readonly cwd?: string;
  /** What `~` expands to. Default: os.homedir(). */
  readonly home?: string;
}

export async function runServe(options: RunServeOptions): Promise<void> {
  await serveConnection({
    input: options.input,
    output: options.output,
    log: options.log,
    openStore: async (requested, mode) => {
      const path = await resolveRepositoryPath(requested, options);
      // No routine log line: ssh relays stderr to the client, which would print it every time.
      return SqliteStore.open(path, {
        create: mode === "create",
        appendOnly: options.appendOnly,
      });
    },
  });
}

/**
 * Resolves the path a client asked for to the real path that will be opened, and checks it
 * against the allowed directories. Throws BlindsyncError('failed') for a path outside them.
 */
export async function resolveRepositoryPath(
  requested: string,
  options: Pick<RunServeOptions, "restrictToPaths" | "cwd" | "home">,
): Promise<string> {
  if (requested === "" || requested.includes("\0"))
    throw new BlindsyncError("usage", `Invalid repository path "${requested}"`);
  const home = options.home ?? homedir();
  const cwd = options.cwd ?? process.cwd();
  let expanded = requested;
  if (requested === "~") expanded = home;
  else if (requested.startsWith("~/"))
    expanded = join(home, requested.slice(2));
  else if (requested.startsWith("~"))
    throw new BlindsyncError(
      "usage",
      `Cannot expand "${requested.split("/")[0] ?? requested}": only "~" (this user's home) is understood`,
      { hint: "Give the repository path as an absolute path" },
    );
  const path = await realPathOfDeepestAncestor(resolve(cwd, expanded));
  if (options.restrictToPaths.length === 0) return path;
  const allowed = await Promise.all(
    options.restrictToPaths.map((dir) =>
      realPathOfDeepestAncestor(resolve(cwd, dir)),
    ),
  );
  if (allowed.some((dir) => isInside(path, dir))) return path;
  // Neither the resolved path nor the allowed directories are echoed: whoever holds a key
  // with this forced command learns no more about the server's layout than it asked.
  throw new BlindsyncError(
    "failed",
    `Repository path "${requested}" is outside the directories this server allows`,
    {
      hint: "The server restricts repositories to certain directories (serve --restrict-to-path); ask its administrator which",
    },
  );
}

/**
 * The real path of `path`: the realpath of its deepest existing ancestor, with the components
 * that do not exist yet appended. A symlink anywhere in the existing part is followed here, so
 * the check sees where the path really leads and the store opens exactly what was checked.
 */
async function realPathOfDeepestAncestor(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      const real = await realpath(current);
      return missing.length === 0 ? real : join(real, ...missing.reverse());
    } catch (error) {
      if (!isMissing(error)) {
        throw new BlindsyncError(
          "failed",
          `Cannot resolve repository path "${path}": ${describeError(error)}`,
          { cause: error },
        );
      }
      const parent = dirname(current);
      if (parent === current) return path;
      missing.push(basename(current));
      current = parent;
    }
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return (
    rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith("../"))
  );
}
