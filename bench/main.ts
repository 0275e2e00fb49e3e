/**
 * `npm run bench [-- --quick] [--runs N] [--tools a,b] [--no-build] [--image-gib N]`
 * `npm run bench -- --small-files [--scale N] [--runs N]` (local repositories, bench/small-files.ts)
 * `npm run bench -- --releases DIR [--runs N]` (local repositories, bench/releases.ts)
 *
 * blindsync against restic, borg and rsync over a real sshd on loopback, on a fresh journaled
 * ext4 on a loop device, with a counting proxy in front of sshd. Scenarios A-E, interleaved tool
 * by tool within each run, medians over runs, ratios within runs; every restore is verified
 * against the corpus. Prints a table and writes bench/results/<timestamp>.json (and .md).
 * See docs/performance.md for the method.
 *
 * Length: over 400 lines with one job, running the benchmark (options, set-up of the loop fs and
 * sshd, the scenario loop, the report); each step is a function here, the tools and the
 * measuring live in their own modules.
 */
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  applyChange,
  buildCorpus,
  buildManifest,
  compareManifests,
  DOUBLE_CORPUS,
  FULL_CORPUS,
  QUICK_CORPUS,
  SENTINEL,
  touchSentinel,
  type ChangeSummary,
  type CorpusInfo,
  type ManifestEntry,
} from "./corpus.js";
import { createLoopFs, type LoopFs } from "./loopfs.js";
import { measure, type CommandSpec, type MeasureContext } from "./measure.js";
import { ensurePrerequisites } from "./prereq.js";
import {
  buildTables,
  ratios,
  renderMarkdown,
  renderText,
  textTable,
  summarize,
  type Sample,
  type ScenarioId,
} from "./report.js";
import {
  startProxy,
  startSshd,
  type CountingProxy,
  type Sshd,
} from "./sshd.js";
import { mainReleases } from "./releases.js";
import { DEFAULT_SCALE, runSmallFiles } from "./small-files.js";
import { makeTools, restoredRoot, type Tool } from "./tools.js";
import { log, MiB, run, runSync, tail } from "./util.js";

function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dir !== "/") {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "bench")))
      return dir;
    dir = dirname(dir);
  }
  throw new Error("cannot find the project root (package.json beside bench/)");
}

const TOOLS_DEFAULT = "blindsync,blindsync-sftp,restic,borg,rsync";
const { values: options } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    double: { type: "boolean", default: false },
    runs: { type: "string", default: "3" },
    tools: {
      type: "string",
      default: TOOLS_DEFAULT,
    },
    "no-build": { type: "boolean", default: false },
    "image-gib": { type: "string" },
    "small-files": { type: "boolean", default: false },
    scale: { type: "string" },
    releases: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  process.stdout.write(
    "npm run bench -- [--quick | --double] [--runs N] [--tools blindsync,blindsync-sftp,restic,borg,rsync] [--no-build] [--image-gib N]\n" +
      "npm run bench -- --small-files [--scale N (default 300000)] [--runs N] [--tools blindsync,restic] [--no-build] [--image-gib N]\n" +
      "npm run bench -- --releases DIR [--runs N] [--tools blindsync,restic,borg] [--no-build] [--image-gib N]\n",
  );
  process.exit(0);
}
const runs = Number(options.runs);
if (!Number.isInteger(runs) || runs < 1)
  throw new Error("--runs takes a positive integer");
const wanted = options.tools.split(",").map((name) => name.trim());
if (options.quick && options.double)
  throw new Error("--quick and --double exclude each other");
// --double: twice the full corpus, for the issue's "the same at twice the corpus size" check.
const spec = options.quick
  ? QUICK_CORPUS
  : options.double
    ? DOUBLE_CORPUS
    : FULL_CORPUS;
const smallScale = Number(options.scale ?? DEFAULT_SCALE);
if (!Number.isInteger(smallScale) || smallScale < 1)
  throw new Error("--scale takes a positive integer");
if (options.scale !== undefined && !options["small-files"])
  throw new Error("--scale goes with --small-files");
// The small-files tree, two restores and the repositories: an inode per 16 KiB of image by
// default, so the image grows with the file count (it is sparse: only what is written is used).
const smallFilesGiB = Math.max(
  8,
  Math.ceil((smallScale * 3 * 16 * 1024) / 1024 ** 3) + 4,
);
const imageGiB = Number(
  options["image-gib"] ??
    (options["small-files"]
      ? smallFilesGiB
      : options.releases !== undefined
        ? 8
        : options.quick
          ? 4
          : options.double
            ? 40
            : 24),
);

const projectRoot = findProjectRoot();
const tag = `${process.pid}`;

let loopFs: LoopFs | undefined;
let sshd: Sshd | undefined;
let proxy: CountingProxy | undefined;
let cleanedUp = false;
function cleanUp(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  proxy?.stop();
  sshd?.stop();
  // Let sshd's children go before unmounting.
  runSync(["sleep", "0.3"]);
  loopFs?.release();
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(signal, () => {
    log(`${signal}: cleaning up`);
    cleanUp();
    process.exit(130);
  });
process.on("exit", cleanUp);

async function buildBlindsync(): Promise<string | undefined> {
  if (options["no-build"])
    return existsSync(join(projectRoot, "dist/cli/main.js"))
      ? undefined
      : "dist/cli/main.js does not exist (run without --no-build)";
  // `npm run build`, not tsc alone: tsc rewrites dist/cli/main.js unbundled, and the benchmark
  // would then measure a start-up that no installed blindsync has (docs/performance.md,
  // "Start-up").
  log("building blindsync (npm run build: tsc, then the bundle)");
  const result = await run(["npm", "run", "build"], { cwd: projectRoot });
  return result.code === 0
    ? undefined
    : `build failed: ${tail(result.stdout + result.stderr, 5)}`;
}

/**
 * Copies the built blindsync (dist/, the native addon, package.json; node_modules linked) to the
 * loop file system, so that a rebuild of dist/ in the checkout during the benchmark cannot change
 * the code under test half-way; client and `serve` both run this copy.
 */
async function snapshotBlindsync(dest: string): Promise<string> {
  await mkdir(dest, { recursive: true });
  await cp(join(projectRoot, "dist"), join(dest, "dist"), { recursive: true });
  await cp(join(projectRoot, "package.json"), join(dest, "package.json"));
  const native = join(projectRoot, "build", "Release");
  if (existsSync(native))
    await cp(native, join(dest, "build", "Release"), { recursive: true });
  await symlink(join(projectRoot, "node_modules"), join(dest, "node_modules"));
  return join(dest, "dist", "cli", "main.js");
}

function lastJsonSummary(stdout: string): unknown {
  const lines = stdout.trim().split("\n").reverse();
  for (const line of lines) {
    try {
      const value = JSON.parse(line) as { type?: string };
      if (value.type === "summary") return value;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** `--small-files`: blindsync and restic with local repositories, N small files (issue 20). */
async function mainSmallFiles(): Promise<void> {
  await ensurePrerequisites();
  const names = ["blindsync", "restic"].filter((name) => wanted.includes(name));
  const blindsyncProblem = names.includes("blindsync")
    ? await buildBlindsync()
    : undefined;
  if (blindsyncProblem !== undefined)
    throw new Error(`blindsync cannot run: ${blindsyncProblem}`);
  loopFs = await createLoopFs(imageGiB, tag);
  const root = loopFs.mountPoint;
  const cli = await snapshotBlindsync(join(root, "blindsync"));
  const startedAt = new Date().toISOString();
  const result = await runSmallFiles({
    root,
    scale: smallScale,
    runs,
    blindsync: [process.execPath, cli],
    wanted: names,
  });
  const summary = summarize(result.samples, names);
  const ratioTable = ratios(
    result.samples,
    "blindsync",
    names.filter((name) => name !== "blindsync"),
  );
  const built = buildTables(summary, ratioTable, names, "blindsync", new Set());
  // Only A-D run here; E (one file) belongs to the ssh corpus.
  const withoutE = (rows: string[][]): string[][] =>
    rows.filter((row) => !(row[0] ?? "").startsWith("E "));
  const tables = {
    results: withoutE(built.results),
    ratios: withoutE(built.ratios),
  };
  const failures = result.samples.filter((s) => !s.ok);
  const header = `blindsync benchmark, many small files: ${result.tree.files} files of 100-900 bytes (${(result.tree.bytes / MiB).toFixed(0)} MiB), local repositories, C touches ${result.touched} files; ${runs} run(s), medians; ${cpus().length} cores (${cpus()[0]?.model ?? "?"})`;
  let text = `\n${header}\n\n${renderText(tables)}`;
  if (failures.length > 0) {
    text += "\nFailures:\n";
    for (const f of failures)
      text += `  run ${f.run + 1} ${f.scenario} ${f.tool}: ${f.error ?? "?"}\n`;
  }
  process.stdout.write(text);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(projectRoot, "bench", "results");
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, `${stamp}-small-files.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        startedAt,
        corpus: {
          kind: "many small files",
          files: result.tree.files,
          bytes: result.tree.bytes,
          fingerprint: result.fingerprint,
          touched: result.touched,
        },
        runs,
        machine: {
          cores: cpus().length,
          cpu: cpus()[0]?.model,
          memoryGiB: Math.round(totalmem() / 1024 ** 3),
          filesystem: `ext4 with journal on a ${imageGiB} GiB loop device`,
        },
        versions: {
          node: process.version,
          restic: (await run(["restic", "version"])).stdout.trim(),
        },
        summary,
        ratios: ratioTable,
        samples: result.samples,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile(
    join(resultsDir, `${stamp}-small-files.md`),
    `${header}\n\n${renderMarkdown(tables)}`,
  );
  log(`results: ${file}`);
}

async function main(): Promise<void> {
  if (options["small-files"]) {
    await mainSmallFiles();
    return;
  }
  if (options.releases !== undefined) {
    const dir = resolve(options.releases);
    await ensurePrerequisites();
    const problem = await buildBlindsync();
    if (problem !== undefined)
      throw new Error(`blindsync cannot run: ${problem}`);
    loopFs = await createLoopFs(imageGiB, tag);
    const cli = await snapshotBlindsync(join(loopFs.mountPoint, "blindsync"));
    await mainReleases({
      root: loopFs.mountPoint,
      dir,
      runs,
      blindsync: [process.execPath, cli],
      wanted:
        options.tools === TOOLS_DEFAULT
          ? ["blindsync", "restic", "borg"]
          : wanted,
      resultsDir: join(projectRoot, "bench", "results"),
      machine: {
        cores: cpus().length,
        cpu: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 1024 ** 3),
        filesystem: `ext4 with journal on a ${imageGiB} GiB loop device`,
      },
    });
    return;
  }
  await ensurePrerequisites();
  const blindsyncProblem = wanted.includes("blindsync")
    ? await buildBlindsync()
    : undefined;
  if (blindsyncProblem !== undefined)
    log(`blindsync cannot run: ${blindsyncProblem}`);

  loopFs = await createLoopFs(imageGiB, tag);
  const root = loopFs.mountPoint;
  const cli =
    blindsyncProblem === undefined
      ? await snapshotBlindsync(join(root, "blindsync"))
      : join(projectRoot, "dist/cli/main.js");
  const pristine = join(root, "pristine");
  const work = join(root, "work", "corpus");
  const startedCorpus = Date.now();
  const corpus: CorpusInfo = await buildCorpus(pristine, spec);
  log(
    `corpus: ${corpus.files} files, ${(corpus.bytes / MiB).toFixed(0)} MiB, built in ${((Date.now() - startedCorpus) / 1000).toFixed(0)} s (fingerprint ${corpus.fingerprint.slice(0, 16)})`,
  );

  sshd = await startSshd(join(root, "sshd"));
  proxy = await startProxy(sshd.port);
  const context: MeasureContext = {
    sshdPid: sshd.pid,
    proxy,
    timeFile: join(root, "time.out"),
  };
  const allTools = makeTools({
    ssh: sshd.sshCommand,
    user: sshd.user,
    proxyPort: proxy.port,
    root,
    blindsync: [process.execPath, cli],
    projectRoot,
    baseline:
      process.env.BLINDSYNC_BENCH_BASELINE === undefined
        ? undefined
        : [process.execPath, process.env.BLINDSYNC_BENCH_BASELINE],
  });
  const tools = allTools.filter((tool) => wanted.includes(tool.name));
  const versions: Record<string, string> = {};
  for (const tool of tools)
    versions[tool.name] = await tool
      .version()
      .catch((error: unknown) => `unknown (${String(error)})`);
  versions.ssh = (await run(["ssh", "-V"])).stderr.trim();
  versions.node = process.version;
  log(`versions: ${Object.values(versions).join("; ")}`);

  const samples: Sample[] = [];
  let change: ChangeSummary | undefined;
  for (let r = 0; r < runs; r++) {
    log(`run ${r + 1} of ${runs}`);
    const order = tools.map((_, i) => tools[(i + r) % tools.length] as Tool);
    await rm(join(root, "work"), { recursive: true, force: true });
    await mkdir(join(root, "work"), { recursive: true });
    await cp(pristine, work, { recursive: true, preserveTimestamps: true });
    await touchSentinel(work, `run ${r + 1}`);
    const broken = new Map<string, string>();
    if (blindsyncProblem !== undefined)
      broken.set("blindsync", blindsyncProblem);
    for (const tool of order) {
      if (broken.has(tool.name)) continue;
      try {
        await tool.setup();
      } catch (error) {
        broken.set(tool.name, `setup: ${String(error)}`);
      }
    }
    const step = async (
      scenario: ScenarioId,
      tool: Tool,
      command: () => CommandSpec,
      verify?: () => Promise<Partial<Sample> & { error?: string }>,
    ): Promise<void> => {
      const skip = broken.get(tool.name);
      if (skip !== undefined) {
        samples.push({
          run: r,
          tool: tool.name,
          scenario,
          ok: false,
          error: `skipped: ${skip}`,
        });
        return;
      }
      const m = await measure(context, command());
      let ok = m.ok;
      let error = m.ok ? undefined : `exit ${m.exitCode}: ${m.stderrTail}`;
      let extra: Partial<Sample> = {};
      if (ok && verify !== undefined) {
        extra = await verify();
        if (extra.error !== undefined) {
          ok = false;
          error = extra.error;
        }
      }
      const toolSummary = tool.name.startsWith("blindsync")
        ? lastJsonSummary(m.stdoutTail)
        : undefined;
      samples.push({
        run: r,
        tool: tool.name,
        scenario,
        ok,
        ...(error === undefined ? {} : { error }),
        wallS: m.wallS,
        clientCpuS: m.clientCpuS,
        clientPeakRssMiB: m.clientPeakRssMiB,
        serverCpuS: m.serverCpuS,
        serverPeakRssMiB: m.serverPeakRssMiB,
        bytesUp: m.bytesUp,
        bytesDown: m.bytesDown,
        busyBefore: m.busyBefore,
        ...(extra.mtimeDiffs === undefined
          ? {}
          : { mtimeDiffs: extra.mtimeDiffs }),
        ...(toolSummary === undefined ? {} : { toolSummary }),
      });
      log(
        `  ${scenario} ${tool.name.padEnd(9)} ${ok ? "ok" : "FAILED"} ${m.wallS.toFixed(2)} s, client ${m.clientCpuS.toFixed(2)} s CPU ${m.clientPeakRssMiB.toFixed(0)} MiB, server ${m.serverCpuS.toFixed(2)} s CPU ${m.serverPeakRssMiB.toFixed(0)} MiB, ${(m.bytesUp / MiB).toFixed(2)} MiB up ${(m.bytesDown / MiB).toFixed(2)} MiB down${error === undefined ? "" : `: ${error}`}`,
      );
      if (!ok && scenario === "A")
        broken.set(tool.name, "A failed in this run");
    };

    for (const tool of order)
      await step("A", tool, () => tool.backup(work, "a"));
    for (const tool of order)
      await step("B", tool, () => tool.backup(work, "b"));
    change = await applyChange(work, corpus);
    const expected: Map<string, ManifestEntry> = await buildManifest(work);
    for (const tool of order)
      await step("C", tool, () => tool.backup(work, "c"));
    for (const tool of order) {
      const target = join(root, "restore", tool.name);
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
      await step(
        "D",
        tool,
        () => tool.restoreAll(target),
        async () => {
          const restored = await buildManifest(
            restoredRoot(target, work, SENTINEL),
          );
          const comparison = compareManifests(expected, restored);
          return comparison.ok
            ? { mtimeDiffs: comparison.mtimeDiffs }
            : {
                error: `restored tree differs from the corpus: ${comparison.errors.join("; ")}`,
              };
        },
      );
      await rm(target, { recursive: true, force: true });
    }
    for (const tool of order) {
      const target = join(root, "restore", `${tool.name}-one`);
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
      await step(
        "E",
        tool,
        () => tool.restoreOne(corpus.oneFile, target),
        async () => {
          const want = expected.get(corpus.oneFile)?.hash;
          const restored = await buildManifest(target);
          const files = [...restored.values()].filter(
            (entry) => entry.type === "file",
          );
          const path = tool.restoredOne(corpus.oneFile, target);
          let got: string | undefined;
          try {
            const { createHash } = await import("node:crypto");
            got = createHash("sha256")
              .update(await readFile(path))
              .digest("hex");
          } catch {
            got = undefined;
          }
          if (got !== want)
            return {
              error: `${corpus.oneFile} not restored correctly at ${path}`,
            };
          if (files.length !== 1)
            return { error: `restored ${files.length} files instead of 1` };
          return {};
        },
      );
      await rm(target, { recursive: true, force: true });
    }
    for (const tool of tools) await tool.teardown().catch(() => undefined);
  }

  const names = tools.map((tool) => tool.name);
  const summary = summarize(samples, names);
  const ratioTable = ratios(
    samples,
    "blindsync",
    names.filter((name) => name !== "blindsync"),
  );
  // Packs over plain sftp against restic over the same sshd (issue 19's targets).
  const sftpTables = names.includes("blindsync-sftp")
    ? buildTables(
        summary,
        ratios(
          samples,
          "blindsync-sftp",
          ["restic", "blindsync-sftp-before"].filter((name) =>
            names.includes(name),
          ),
        ),
        ["blindsync-sftp", "blindsync-sftp-before", "restic"].filter((name) =>
          names.includes(name),
        ),
        "blindsync-sftp",
        new Set(),
      )
    : undefined;
  const pending = new Set<string>(
    blindsyncProblem === undefined ? [] : ["blindsync"],
  );
  const tables = buildTables(summary, ratioTable, names, "blindsync", pending);
  const failures = samples.filter((s) => !s.ok);
  const corpusLabel = options.quick
    ? "quick corpus"
    : options.double
      ? "twice the full corpus"
      : "full corpus";
  const header = `blindsync benchmark, ${corpusLabel}: ${corpus.files} files, ${(corpus.bytes / MiB).toFixed(0)} MiB; ${runs} run(s), medians; ${cpus().length} cores (${cpus()[0]?.model ?? "?"})`;
  let text = `\n${header}\n\n${renderText(tables)}`;
  if (sftpTables !== undefined)
    text += `\nPacks over sftp:\n${textTable(sftpTables.ratios)}\n`;
  if (failures.length > 0) {
    text += "\nFailures:\n";
    for (const f of failures)
      text += `  run ${f.run + 1} ${f.scenario} ${f.tool}: ${f.error ?? "?"}\n`;
  }
  process.stdout.write(text);

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(projectRoot, "bench", "results");
  await mkdir(resultsDir, { recursive: true });
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: (await run(["uname", "-r"])).stdout.trim(),
    filesystem: `ext4 with journal on a ${imageGiB} GiB loop device`,
  };
  const json = {
    startedAt: new Date(startedCorpus).toISOString(),
    corpus: {
      kind: corpusLabel,
      ...corpus,
      smallFiles: corpus.smallFiles.length,
      change,
    },
    runs,
    machine,
    versions,
    blindsyncProblem,
    summary,
    ratios: ratioTable,
    samples,
  };
  const file = join(resultsDir, `${stamp}.json`);
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(
    join(resultsDir, `${stamp}.md`),
    `${header}\n\n${renderMarkdown(tables)}${sftpTables === undefined ? "" : `\nPacks over sftp:\n\n${renderMarkdown({ results: [], ratios: sftpTables.ratios })}`}`,
  );
  log(`results: ${file}`);
}

main().then(
  () => {
    cleanUp();
    process.exit(0);
  },
  (error: unknown) => {
    log(
      `failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    cleanUp();
    process.exit(1);
  },
);
