/**
 * A CommandContext for running a command's `run*` function in process: the real Output
 * (streamOutput, so escaping and --json/-q behave as in the CLI) over in-memory streams, a
 * private cache directory, and an environment with the test passphrase and the cheap KDF cost.
 * Kept in test/helpers/ rather than src/cli/ so that it never reaches dist/.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runInit } from "../../src/cli/commands/init.js";
import type { CommandContext, GlobalOptions } from "../../src/cli/context.js";
import { streamOutput, type Stream } from "../../src/cli/output/output.js";
import { toHex } from "../../src/util/bytes.js";
import { TEST_KDF_LOGN, TEST_PASSWORD } from "./constants.js";

/** A stand-in for process.stdout or process.stderr that keeps what is written. */
export interface CapturedStream extends Stream {
  /** Everything written, text and bytes, in order. */
  readonly chunks: Buffer[];
  /** The captured text. */
  text(): string;
  /** The captured text split into lines, without the last empty one. */
  lines(): string[];
}

export function capturedStream(): CapturedStream {
  const chunks: Buffer[] = [];
  const text = (): string => Buffer.concat(chunks).toString("utf8");
  return {
    chunks,
    write(chunk, callback) {
      chunks.push(
        typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk),
      );
      callback?.(null);
      return true;
    },
    text,
    lines: () => text().split("\n").slice(0, -1),
  };
}

export interface TestContext extends CommandContext {
  readonly stdout: CapturedStream;
  readonly stderr: CapturedStream;
  /** Every stdout line parsed as JSON (for contexts made with `json: true`). */
  json(): unknown[];
  /** Lines written to stdout since the last call (or since the context was made). */
  take(): string[];
  /** A context sharing this one's cache, environment and globals, with fresh streams. */
  with(changes?: TestContextOptions): TestContext;
}

export interface TestContextOptions {
  readonly json?: boolean;
  readonly quiet?: boolean;
  /** -v */
  readonly verbose?: boolean;
  /** Makes stderr look like a terminal (isTTY), so status lines are drawn into it. */
  readonly terminal?: boolean;
  /** Added to (or, when undefined, removed from) the test environment. */
  readonly env?: Record<string, string | undefined>;
  readonly globals?: GlobalOptions;
}

/** The environment every test context starts from: nothing of the real one leaks in. */
export function testEnv(): NodeJS.ProcessEnv {
  return {
    BLINDSYNC_PASSWORD: TEST_PASSWORD,
    BLINDSYNC_KDF_LOGN: TEST_KDF_LOGN,
  };
}

function makeContext(
  env: NodeJS.ProcessEnv,
  globals: GlobalOptions,
  options: TestContextOptions,
): TestContext {
  const stdout = capturedStream();
  const stderr =
    options.terminal === true
      ? { ...capturedStream(), isTTY: true as const }
      : capturedStream();
  const merged: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries({ ...env, ...options.env }).filter(
      ([, value]) => value !== undefined,
    ),
  );
  const allGlobals = { ...globals, ...options.globals };
  let taken = 0;
  return {
    output: streamOutput(stdout, stderr, {
      json: options.json === true,
      quiet: options.quiet === true,
      verbose: options.verbose === true,
    }),
    env: merged,
    globals: allGlobals,
    stdout,
    stderr,
    json: () => stdout.lines().map((line) => JSON.parse(line) as unknown),
    take() {
      const lines = stdout.lines();
      const fresh = lines.slice(taken);
      taken = lines.length;
      return fresh;
    },
    with: (changes = {}) => makeContext(merged, allGlobals, changes),
  };
}

/**
 * A context with its own cache directory below a fresh temporary directory (`dir`, for the
 * test's repository and files too); `cleanup` removes it all.
 */
export function testContext(options: TestContextOptions = {}): {
  context: TestContext;
  dir: string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), "blindsync-cmd-"));
  const context = makeContext(
    testEnv(),
    { cacheDir: join(dir, "cache") },
    options,
  );
  return {
    context,
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `files` (relative path to contents) below `root`, making the directories they need. */
export function writeFiles(
  root: string,
  files: Readonly<Record<string, string>>,
): void {
  mkdirSync(root, { recursive: true });
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), contents);
  }
}

/**
 * A repository at `dir`/repo made by `runInit`, with one snapshot per entry of `versions` of a
 * source at `dir`/source (each entry: relative path to contents, written before its backup).
 */
export async function repositoryWithSnapshots(
  context: TestContext,
  dir: string,
  versions: readonly Record<string, string>[],
): Promise<{ repository: string; source: string; ids: string[] }> {
  const repository = join(dir, "repo");
  const source = join(dir, "source");
  mkdirSync(source, { recursive: true });
  await runInit(context.with(), { repository });
  const ids: string[] = [];
  for (const files of versions) {
    writeFiles(source, files);
    const { snapshot } = await runBackup(context.with(), {
      repository,
      sources: [source],
    });
    ids.push(toHex(snapshot!.id));
  }
  return { repository, source, ids };
}

/**
 * What a command test file runs against: a context, its temporary directory, and the paths of
 * the repository (`dir`/repo) and source (`dir`/source) in it. Made by the hooks that
 * sharedRepository() or freshRepository() register; read only inside tests.
 */
export interface CommandFixture {
  readonly context: TestContext;
  readonly dir: string;
  readonly repository: string;
  readonly source: string;
  /** The snapshot ids, oldest first. */
  readonly ids: readonly string[];
}

/**
 * Registers the hooks of a file whose tests all read one repository: before them a context and
 * `repositoryWithSnapshots(versions)`, after them everything removed.
 */
export function sharedRepository(
  versions: readonly Record<string, string>[],
): CommandFixture {
  return hookedFixture("all", async (context, dir) => ({
    context,
    dir,
    ...(await repositoryWithSnapshots(context, dir, versions)),
  }));
}

export interface FreshRepositoryOptions {
  /** Files written to `source` before each test. */
  readonly source?: Readonly<Record<string, string>>;
  /** Create the repository with `runInit` before each test (else only its path is given). */
  readonly init?: boolean;
}

/**
 * Registers the hooks of a file whose tests each get their own context and directory: before
 * each the source files and the repository the options ask for, after each everything removed.
 */
export function freshRepository(
  options: FreshRepositoryOptions = {},
): CommandFixture {
  return hookedFixture("each", async (context, dir) => {
    const repository = join(dir, "repo");
    const source = join(dir, "source");
    if (options.source !== undefined) writeFiles(source, options.source);
    if (options.init === true) await runInit(context.with(), { repository });
    return { context, dir, repository, source, ids: [] };
  });
}

/**
 * Registers hooks that build a fixture in a fresh test context before all the tests of the
 * enclosing suite or before each, and remove its directory after; the fixture's fields read
 * what the running hooks built, and fail loudly outside a test.
 */
function hookedFixture(
  per: "all" | "each",
  build: (context: TestContext, dir: string) => Promise<CommandFixture>,
): CommandFixture {
  let current: CommandFixture | undefined;
  let cleanup = (): void => undefined;
  (per === "all" ? beforeAll : beforeEach)(async () => {
    const made = testContext();
    cleanup = made.cleanup;
    current = await build(made.context, made.dir);
  });
  (per === "all" ? afterAll : afterEach)(() => {
    current = undefined;
    cleanup();
  });
  const read = (): CommandFixture => {
    if (current === undefined)
      throw new Error("A command fixture is read outside the tests it serves");
    return current;
  };
  return {
    get context() {
      return read().context;
    },
    get dir() {
      return read().dir;
    },
    get repository() {
      return read().repository;
    },
    get source() {
      return read().source;
    },
    get ids() {
      return read().ids;
    },
  };
}
