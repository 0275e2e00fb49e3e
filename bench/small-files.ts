/**
 * The many-small-files scenario (`npm run bench -- --small-files [--scale N]`, issue 20):
 * N files of 100-900 bytes (half text, half random bytes), about 100 per directory, backed up
 * into a local repository by blindsync and by restic. Both tools run on the same loop file
 * system, without ssh, so the numbers measure the per-file cost of the client and its local
 * store alone: the initial backup (A), nothing changed (B), 1 % of the files touched (C) and a
 * full restore (D, verified against the tree).
 */
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  buildManifest,
  compareManifests,
  fingerprint,
  type ManifestEntry,
} from "./corpus.js";
import { localTools, type LocalTool } from "./local-repos.js";
import { measure, type CommandSpec, type MeasureContext } from "./measure.js";
import { KeyStream } from "./prng.js";
import type { Sample, ScenarioId } from "./report.js";
import { log } from "./util.js";

export const DEFAULT_SCALE = 300_000;
const FILES_PER_DIRECTORY = 100;
/** Directories per parent, so that no directory lists more than about 100 entries. */
const DIRECTORIES_PER_PARENT = 100;
const MIN_SIZE = 100;
const MAX_SIZE = 900;
/** The tree's file times (2026-01-01T00:00:00Z); the touched files get one second later. */
const TREE_TIME = 1_767_225_600;
const WORDS =
  "the a file note line value config entry item list path name size time user group mode data cache index block page record field key token small many".split(
    " ",
  );

export interface SmallTree {
  readonly files: number;
  readonly bytes: number;
  /** Relative paths of every file, in creation order. */
  readonly paths: readonly string[];
}

function textBytes(random: KeyStream, length: number): Buffer {
  const parts: string[] = [];
  let size = 0;
  while (size < length) {
    const word = random.pick(WORDS);
    parts.push(word);
    size += word.length + 1;
  }
  return Buffer.from(`${parts.join(" ").slice(0, length - 1)}\n`, "latin1");
}

/**
 * Builds `count` small files under `dir`: `dNN/dNN/fNNN` with about 100 files per leaf
 * directory and 100 leaf directories per parent. Synchronous calls: creating 300,000 files is
 * the kernel's work either way, and a promise per file costs more than it saves here.
 */
export function buildSmallTree(dir: string, count: number): SmallTree {
  const random = new KeyStream(`blindsync-bench small files v1 ${count}`);
  const paths: string[] = [];
  let bytes = 0;
  const leaves = Math.ceil(count / FILES_PER_DIRECTORY);
  for (let leaf = 0; leaf < leaves; leaf++) {
    const parent = `p${String(Math.floor(leaf / DIRECTORIES_PER_PARENT)).padStart(3, "0")}`;
    const relativeDir = join(
      parent,
      `d${String(leaf % DIRECTORIES_PER_PARENT).padStart(2, "0")}`,
    );
    mkdirSync(join(dir, relativeDir), { recursive: true });
    const inThis = Math.min(
      FILES_PER_DIRECTORY,
      count - leaf * FILES_PER_DIRECTORY,
    );
    for (let i = 0; i < inThis; i++) {
      const length = MIN_SIZE + random.below(MAX_SIZE - MIN_SIZE + 1);
      const binary = random.below(2) === 1;
      const path = join(
        relativeDir,
        `f${String(i).padStart(3, "0")}${binary ? ".bin" : ".txt"}`,
      );
      const data = binary ? random.bytes(length) : textBytes(random, length);
      const full = join(dir, path);
      writeFileSync(full, data);
      utimesSync(full, TREE_TIME, TREE_TIME);
      paths.push(path);
      bytes += data.length;
    }
  }
  return { files: paths.length, bytes, paths };
}

/** Scenario C's change: every hundredth file's mtime moves one second (its bytes stay). */
export function touchOnePercent(dir: string, tree: SmallTree): number {
  let touched = 0;
  for (let i = 0; i < tree.paths.length; i += 100) {
    utimesSync(
      join(dir, tree.paths[i] as string),
      TREE_TIME + 1,
      TREE_TIME + 1,
    );
    touched++;
  }
  return touched;
}

export interface SmallFilesRun {
  readonly tree: SmallTree;
  readonly fingerprint: string;
  readonly samples: Sample[];
  readonly touched: number;
}

/**
 * Builds the tree once under `root`; each run resets its file times (C of the run before moved
 * 1 % of them), then runs A, B, C and D for every tool, interleaved and rotated run by run,
 * with fresh repositories and caches, and verifies every restore against the tree.
 */
export async function runSmallFiles(options: {
  readonly root: string;
  readonly scale: number;
  readonly runs: number;
  readonly blindsync: readonly string[];
  readonly wanted: readonly string[];
}): Promise<SmallFilesRun> {
  const { root, scale, runs } = options;
  const source = join(root, "small");
  const started = Date.now();
  const tree = buildSmallTree(source, scale);
  log(
    `small files: ${tree.files} files, ${(tree.bytes / 1024 / 1024).toFixed(0)} MiB, built in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  const context: MeasureContext = { timeFile: join(root, "time.out") };
  const tools = localTools(root, options.blindsync).filter((tool) =>
    options.wanted.includes(tool.name),
  );
  const samples: Sample[] = [];
  let touched = 0;
  let expected: Map<string, ManifestEntry> | undefined;
  for (let r = 0; r < runs; r++) {
    log(`small files: run ${r + 1} of ${runs}`);
    // Every run starts from the same times (C of the previous run moved 1 % of them).
    for (const path of tree.paths)
      utimesSync(join(source, path), TREE_TIME, TREE_TIME);
    const order = tools.map(
      (_, i) => tools[(i + r) % tools.length] as LocalTool,
    );
    const broken = new Set<string>();
    for (const tool of order) await tool.setup();
    const step = async (
      scenario: ScenarioId,
      tool: LocalTool,
      command: CommandSpec,
      verify?: () => Promise<string | undefined>,
    ): Promise<void> => {
      if (broken.has(tool.name)) {
        samples.push({
          run: r,
          tool: tool.name,
          scenario,
          ok: false,
          error: "skipped: A failed",
        });
        return;
      }
      const m = await measure(context, command);
      let error = m.ok ? undefined : `exit ${m.exitCode}: ${m.stderrTail}`;
      if (error === undefined && verify !== undefined) error = await verify();
      samples.push({
        run: r,
        tool: tool.name,
        scenario,
        ok: error === undefined,
        ...(error === undefined ? {} : { error }),
        wallS: m.wallS,
        clientCpuS: m.clientCpuS,
        clientPeakRssMiB: m.clientPeakRssMiB,
        busyBefore: m.busyBefore,
      });
      log(
        `  ${scenario} ${tool.name.padEnd(9)} ${error === undefined ? "ok" : "FAILED"} ${m.wallS.toFixed(2)} s, CPU ${m.clientCpuS.toFixed(2)} s (${((m.clientCpuS / tree.files) * 1e6).toFixed(0)} µs/file), peak RSS ${m.clientPeakRssMiB.toFixed(0)} MiB${error === undefined ? "" : `: ${error}`}`,
      );
      if (error !== undefined && scenario === "A") broken.add(tool.name);
    };
    for (const tool of order) await step("A", tool, tool.backup(source));
    for (const tool of order) await step("B", tool, tool.backup(source));
    touched = touchOnePercent(source, tree);
    for (const tool of order) await step("C", tool, tool.backup(source));
    expected ??= await buildManifest(source);
    const want = expected;
    for (const tool of order) {
      const target = join(root, "restore", tool.name);
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
      await step("D", tool, tool.restoreLatest(target), async () => {
        const restored = await buildManifest(target);
        const comparison = compareManifests(want, restored);
        return comparison.ok
          ? undefined
          : `restored tree differs: ${comparison.errors.join("; ")}`;
      });
      await rm(target, { recursive: true, force: true });
    }
    for (const tool of tools) await tool.teardown().catch(() => undefined);
  }
  return {
    tree,
    fingerprint: fingerprint(expected ?? new Map<string, ManifestEntry>()),
    samples,
    touched,
  };
}
