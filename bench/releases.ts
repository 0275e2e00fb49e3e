/**
 * Successive releases of a package (`npm run bench -- --releases DIR`, issue 20): DIR holds one
 * subdirectory per release (unpacked `npm pack` tarballs, say), taken in version order. Each tool
 * backs up into a fresh local repository on the loop file system; the releases are copied in
 * turn into one source directory, replacing the previous one's contents with their own mtimes,
 * as unpacking over a working copy would, and after each copy every tool backs the directory
 * up (tool order rotated per release and per run). Reported per tool: the total wall and CPU of
 * the backups, their peak RSS, the repository's size on disk at the end, and a restore of the
 * last snapshot verified against the last release. The benchmark never downloads anything.
 *
 * Length: over 400 lines with one job, this mode: its three tools' command lines, the release
 * loop, the verification and the report; the parts it shares with small-files.ts live in
 * local-repos.ts.
 */
import { readdirSync, realpathSync, statSync } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  buildManifest,
  compareManifests,
  fingerprint,
  type ManifestEntry,
} from "./corpus.js";
import { checked, env, localRepos, localTools } from "./local-repos.js";
import { measure, type CommandSpec, type MeasureContext } from "./measure.js";
import { textTable } from "./report.js";
import { PASSPHRASE } from "./tools.js";
import { log, median, MiB, run, runOk } from "./util.js";

/** Before each backup, wait at most this long for a quiet machine (108 commands per 3 runs). */
const QUIET_WAIT_MS = 3_000;

/** The release subdirectories of `dir`, in version order ("5.10.0" after "5.9.3"). */
export function listReleases(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isDirectory())
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

interface ReleaseTool {
  readonly name: string;
  /** A fresh, empty repository and cache (not measured). */
  setup(): Promise<void>;
  backup(source: string, release: number): CommandSpec;
  /** Restores the latest snapshot's contents into `target` (its root). */
  restoreLatest(target: string): CommandSpec;
  readonly repository: string;
  teardown(): Promise<void>;
}

/** blindsync, restic and borg, each with a local repository and cache on the loop fs. */
function releaseTools(
  root: string,
  blindsync: readonly string[],
): ReleaseTool[] {
  const { repo, cache, fresh, remove } = localRepos(root);
  const borgEnv = env({
    BORG_PASSPHRASE: PASSPHRASE,
    BORG_BASE_DIR: cache("borg"),
    BORG_DISPLAY_PASSPHRASE: "no",
  });
  let borgLatest = 0;
  return [
    ...localTools(root, blindsync),
    {
      // repokey and borg's default compression (lz4), as in the ssh corpus.
      name: "borg",
      repository: repo("borg"),
      setup: async () => {
        await fresh("borg");
        await checked(
          ["borg", "init", "--encryption", "repokey", repo("borg")],
          borgEnv,
        );
      },
      backup: (source, release) => {
        borgLatest = release;
        return {
          argv: ["borg", "create", `${repo("borg")}::r${release}`, "."],
          cwd: source,
          env: borgEnv,
        };
      },
      restoreLatest: (target) => ({
        argv: ["borg", "extract", `${repo("borg")}::r${borgLatest}`],
        cwd: target,
        env: borgEnv,
      }),
      teardown: () => remove("borg"),
    },
  ];
}

/** Bytes the directory occupies on disk (`du`: allocated blocks, not apparent sizes). */
async function diskBytes(dir: string): Promise<number> {
  const out = await runOk(["du", "-s", "--block-size=1", dir]);
  return Number(out.trim().split(/\s+/)[0]);
}

/** Replaces `source`'s contents with `release`'s, keeping the release's mtimes. */
async function unpackOver(release: string, source: string): Promise<void> {
  await rm(source, { recursive: true, force: true });
  await cp(release, source, { recursive: true, preserveTimestamps: true });
}

export interface ReleaseSample {
  readonly run: number;
  readonly tool: string;
  readonly ok: boolean;
  readonly error?: string;
  /** Sums over the backups of every release. */
  readonly wallS: number;
  readonly cpuS: number;
  /** The largest peak RSS of any one backup. */
  readonly peakRssMiB: number;
  readonly repositoryMiB: number;
  /** Per release, in order. */
  readonly backupWallS: readonly number[];
  readonly backupCpuS: readonly number[];
  readonly restoreWallS?: number;
  readonly mtimeDiffs?: number;
}

export interface ReleasesResult {
  readonly releases: readonly string[];
  readonly files: number;
  readonly bytes: number;
  readonly fingerprints: readonly string[];
  readonly samples: readonly ReleaseSample[];
}

/**
 * Copies DIR's releases to the loop file system once, then runs `runs` times: fresh
 * repositories, each release unpacked over the source and backed up by every tool, a restore
 * of the last snapshot verified against the last release.
 */
export async function runReleases(options: {
  readonly root: string;
  readonly dir: string;
  readonly runs: number;
  readonly blindsync: readonly string[];
  readonly wanted: readonly string[];
}): Promise<ReleasesResult> {
  const { root, runs } = options;
  const names = listReleases(options.dir);
  if (names.length === 0)
    throw new Error(`${options.dir} holds no release directories`);
  const pristine = join(root, "releases");
  const fingerprints: string[] = [];
  let files = 0;
  let bytes = 0;
  let last = new Map<string, ManifestEntry>();
  for (const name of names) {
    // A release given as a symlink to its folder is copied as the folder, not as the link.
    await cp(realpathSync(join(options.dir, name)), join(pristine, name), {
      recursive: true,
      preserveTimestamps: true,
    });
    last = await buildManifest(join(pristine, name));
    fingerprints.push(fingerprint(last));
    for (const entry of last.values())
      if (entry.type === "file") {
        files++;
        bytes += entry.size;
      }
  }
  log(
    `releases: ${names.length} (${names[0] ?? ""} … ${names[names.length - 1] ?? ""}), ${files} files and ${(bytes / MiB).toFixed(0)} MiB over all of them`,
  );
  const source = join(root, "work", "package");
  const context: MeasureContext = {
    timeFile: join(root, "time.out"),
    quietWaitMs: QUIET_WAIT_MS,
  };
  const tools = releaseTools(root, options.blindsync).filter((tool) =>
    options.wanted.includes(tool.name),
  );
  const samples: ReleaseSample[] = [];
  for (let r = 0; r < runs; r++) {
    log(`releases: run ${r + 1} of ${runs}`);
    const walls = new Map<string, number[]>();
    const cpus = new Map<string, number[]>();
    const peaks = new Map<string, number>();
    const errors = new Map<string, string>();
    for (const tool of tools) {
      await tool.setup();
      walls.set(tool.name, []);
      cpus.set(tool.name, []);
      peaks.set(tool.name, 0);
    }
    for (const [index, name] of names.entries()) {
      await unpackOver(join(pristine, name), source);
      const order = tools.map(
        (_, i) => tools[(i + r + index) % tools.length] as ReleaseTool,
      );
      const line: string[] = [];
      for (const tool of order) {
        if (errors.has(tool.name)) continue;
        const m = await measure(context, tool.backup(source, index));
        if (!m.ok) {
          errors.set(
            tool.name,
            `backup of ${name}: exit ${m.exitCode}: ${m.stderrTail}`,
          );
          continue;
        }
        walls.get(tool.name)?.push(m.wallS);
        cpus.get(tool.name)?.push(m.clientCpuS);
        peaks.set(
          tool.name,
          Math.max(peaks.get(tool.name) ?? 0, m.clientPeakRssMiB),
        );
        line.push(`${tool.name} ${m.wallS.toFixed(2)} s`);
      }
      log(`  ${name}: ${line.join(", ")}`);
    }
    for (const tool of tools) {
      const sum = (values: readonly number[]): number =>
        values.reduce((a, b) => a + b, 0);
      const wall = walls.get(tool.name) ?? [];
      const cpu = cpus.get(tool.name) ?? [];
      const repositoryMiB = (await diskBytes(tool.repository)) / MiB;
      let error = errors.get(tool.name);
      let restoreWallS: number | undefined;
      let mtimeDiffs: number | undefined;
      if (error === undefined) {
        const target = join(root, "restore", tool.name);
        await rm(target, { recursive: true, force: true });
        await mkdir(target, { recursive: true });
        const m = await measure(context, tool.restoreLatest(target));
        restoreWallS = m.wallS;
        if (!m.ok) error = `restore: exit ${m.exitCode}: ${m.stderrTail}`;
        else {
          const comparison = compareManifests(
            last,
            await buildManifest(target),
          );
          if (comparison.ok) mtimeDiffs = comparison.mtimeDiffs;
          else
            error = `restored tree differs from the last release: ${comparison.errors.join("; ")}`;
        }
        await rm(target, { recursive: true, force: true });
      }
      const sample: ReleaseSample = {
        run: r,
        tool: tool.name,
        ok: error === undefined,
        ...(error === undefined ? {} : { error }),
        wallS: sum(wall),
        cpuS: sum(cpu),
        peakRssMiB: peaks.get(tool.name) ?? 0,
        repositoryMiB,
        backupWallS: wall,
        backupCpuS: cpu,
        ...(restoreWallS === undefined ? {} : { restoreWallS }),
        ...(mtimeDiffs === undefined ? {} : { mtimeDiffs }),
      };
      samples.push(sample);
      log(
        `  ${tool.name.padEnd(9)} ${sample.ok ? "ok" : "FAILED"} backups ${sample.wallS.toFixed(2)} s, CPU ${sample.cpuS.toFixed(2)} s, peak RSS ${sample.peakRssMiB.toFixed(0)} MiB, repository ${repositoryMiB.toFixed(1)} MiB${error === undefined ? "" : `: ${error}`}`,
      );
      await tool.teardown();
    }
  }
  return { releases: names, files, bytes, fingerprints, samples };
}

const COLUMNS = [
  { key: "wallS", label: "backups wall s", digits: 2 },
  { key: "cpuS", label: "backups CPU s", digits: 2 },
  { key: "peakRssMiB", label: "peak RSS MiB", digits: 0 },
  { key: "repositoryMiB", label: "repository MiB", digits: 1 },
  { key: "restoreWallS", label: "restore wall s", digits: 2 },
] as const;
type ColumnKey = (typeof COLUMNS)[number]["key"];

/** Rows of the results table (medians over good runs) and of the ratio table (within runs). */
export function releaseTables(
  samples: readonly ReleaseSample[],
  tools: readonly string[],
): { results: string[][]; ratios: string[][] } {
  const value = (sample: ReleaseSample, key: ColumnKey): number | undefined =>
    sample[key];
  const results: string[][] = [
    ["tool", ...COLUMNS.map((c) => c.label), "runs"],
  ];
  for (const tool of tools) {
    const mine = samples.filter((s) => s.tool === tool);
    const good = mine.filter((s) => s.ok);
    results.push([
      tool,
      ...COLUMNS.map((c) => {
        const m = median(
          good
            .map((s) => value(s, c.key))
            .filter((v): v is number => v !== undefined),
        );
        return m === undefined ? "–" : m.toFixed(c.digits);
      }),
      `${good.length} ok${mine.length > good.length ? `, ${mine.length - good.length} failed` : ""}`,
    ]);
  }
  const subject = "blindsync";
  const peers = tools.filter((tool) => tool !== subject);
  const ratios: string[][] = [
    ["metric", ...peers.map((peer) => `${subject} / ${peer}`)],
  ];
  if (tools.includes(subject))
    for (const c of COLUMNS.slice(0, 4))
      ratios.push([
        c.label,
        ...peers.map((peer) => {
          const values: number[] = [];
          for (const mine of samples) {
            if (mine.tool !== subject || !mine.ok) continue;
            const theirs = samples.find(
              (s) => s.tool === peer && s.run === mine.run && s.ok,
            );
            const a = value(mine, c.key);
            const b = theirs === undefined ? undefined : value(theirs, c.key);
            if (a !== undefined && b !== undefined && b > 0) values.push(a / b);
          }
          const m = median(values);
          return m === undefined ? "–" : m.toFixed(2);
        }),
      ]);
  return { results, ratios };
}

function markdownTable(rows: readonly (readonly string[])[]): string {
  const [header, ...body] = rows;
  if (header === undefined) return "";
  const line = (row: readonly string[]): string => `| ${row.join(" | ")} |`;
  const rule = header.map((_, column) => (column < 1 ? "---" : "---:"));
  return [line(header), line(rule), ...body.map(line)].join("\n");
}

/**
 * Runs the releases mode and reports it: a table on stdout, and
 * `bench/results/<timestamp>-releases.json` (every sample, per-release times, versions) and
 * `.md` (the tables).
 */
export async function mainReleases(options: {
  readonly root: string;
  readonly dir: string;
  readonly runs: number;
  readonly blindsync: readonly string[];
  readonly wanted: readonly string[];
  readonly resultsDir: string;
  readonly machine: Record<string, unknown>;
}): Promise<void> {
  const startedAt = new Date().toISOString();
  const names = ["blindsync", "restic", "borg"].filter((name) =>
    options.wanted.includes(name),
  );
  const result = await runReleases({ ...options, wanted: names });
  const tables = releaseTables(result.samples, names);
  const header = `blindsync benchmark, successive releases: ${result.releases.length} releases of ${options.dir} (${result.releases[0] ?? ""} … ${result.releases[result.releases.length - 1] ?? ""}; ${result.files} files, ${(result.bytes / MiB).toFixed(0)} MiB in all), local repositories; ${options.runs} run(s), medians`;
  const failures = result.samples.filter((s) => !s.ok);
  let text = `\n${header}\n\n${textTable(tables.results)}\n\nRatios (median over runs of the ratio within each run):\n${textTable(tables.ratios)}\n`;
  if (failures.length > 0) {
    text += "\nFailures:\n";
    for (const f of failures)
      text += `  run ${f.run + 1} ${f.tool}: ${f.error ?? "?"}\n`;
  }
  process.stdout.write(text);
  const versions: Record<string, string> = { node: process.version };
  if (names.includes("restic"))
    versions.restic = (await run(["restic", "version"])).stdout.trim();
  if (names.includes("borg"))
    versions.borg = (await run(["borg", "--version"])).stdout.trim();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  await mkdir(options.resultsDir, { recursive: true });
  const file = join(options.resultsDir, `${stamp}-releases.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        startedAt,
        corpus: {
          kind: "successive releases",
          dir: options.dir,
          releases: result.releases,
          files: result.files,
          bytes: result.bytes,
          fingerprints: result.fingerprints,
        },
        runs: options.runs,
        machine: options.machine,
        versions,
        tables,
        samples: result.samples,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile(
    join(options.resultsDir, `${stamp}-releases.md`),
    `${header}\n\n${markdownTable(tables.results)}\n\n${markdownTable(tables.ratios)}\n`,
  );
  log(`results: ${file}`);
}
