/** Medians, same-run ratios, and the tables (plain text for stdout, Markdown for the docs). */
import { median, MiB } from "./util.js";

export const SCENARIOS = [
  { id: "A", title: "A initial backup" },
  { id: "B", title: "B nothing changed" },
  { id: "C", title: "C small change" },
  { id: "D", title: "D full restore" },
  { id: "E", title: "E restore one file" },
] as const;
export type ScenarioId = (typeof SCENARIOS)[number]["id"];

export interface Sample {
  readonly run: number;
  readonly tool: string;
  readonly scenario: ScenarioId;
  readonly ok: boolean;
  /** Why the sample failed: exit code and stderr tail, a failed verification, or a skip. */
  readonly error?: string;
  readonly wallS?: number;
  readonly clientCpuS?: number;
  readonly clientPeakRssMiB?: number;
  readonly serverCpuS?: number;
  readonly serverPeakRssMiB?: number;
  readonly bytesUp?: number;
  readonly bytesDown?: number;
  readonly busyBefore?: number;
  readonly mtimeDiffs?: number;
  readonly toolSummary?: unknown;
}

export const METRICS = [
  { key: "wallS", label: "wall s", digits: 2 },
  { key: "clientCpuS", label: "client CPU s", digits: 2 },
  { key: "serverCpuS", label: "server CPU s", digits: 2 },
  { key: "clientPeakRssMiB", label: "client RSS MiB", digits: 0 },
  { key: "serverPeakRssMiB", label: "server RSS MiB", digits: 0 },
  { key: "upMiB", label: "sent MiB", digits: 2 },
  { key: "downMiB", label: "received MiB", digits: 2 },
] as const;
export type MetricKey = (typeof METRICS)[number]["key"];

function metric(sample: Sample, key: MetricKey): number | undefined {
  if (key === "upMiB")
    return sample.bytesUp === undefined ? undefined : sample.bytesUp / MiB;
  if (key === "downMiB")
    return sample.bytesDown === undefined ? undefined : sample.bytesDown / MiB;
  return sample[key];
}

export interface Cell {
  readonly ok: number;
  readonly failed: number;
  readonly medians: Partial<Record<MetricKey, number>>;
}

export function summarize(
  samples: readonly Sample[],
  tools: readonly string[],
): Record<string, Record<string, Cell>> {
  const result: Record<string, Record<string, Cell>> = {};
  for (const { id } of SCENARIOS) {
    const row: Record<string, Cell> = {};
    for (const tool of tools) {
      const mine = samples.filter((s) => s.tool === tool && s.scenario === id);
      const good = mine.filter((s) => s.ok);
      const medians: Partial<Record<MetricKey, number>> = {};
      for (const { key } of METRICS) {
        const values = good
          .map((s) => metric(s, key))
          .filter((v): v is number => v !== undefined && Number.isFinite(v));
        const value = median(values);
        if (value !== undefined) medians[key] = value;
      }
      row[tool] = {
        ok: good.length,
        failed: mine.length - good.length,
        medians,
      };
    }
    result[id] = row;
  }
  return result;
}

export const RATIO_METRICS = [
  { key: "wallS", label: "wall" },
  { key: "clientCpuS", label: "client CPU" },
  { key: "clientPeakRssMiB", label: "client RSS" },
  { key: "bytes", label: "bytes (both ways)" },
] as const;
type RatioKey = (typeof RATIO_METRICS)[number]["key"];

function ratioValue(sample: Sample, key: RatioKey): number | undefined {
  if (key === "bytes")
    return sample.bytesUp === undefined || sample.bytesDown === undefined
      ? undefined
      : sample.bytesUp + sample.bytesDown;
  return sample[key];
}

/** Median over runs of (subject / peer), each ratio taken within one run. */
export function ratios(
  samples: readonly Sample[],
  subject: string,
  peers: readonly string[],
): Record<string, Record<string, Partial<Record<RatioKey, number>>>> {
  const result: Record<
    string,
    Record<string, Partial<Record<RatioKey, number>>>
  > = {};
  for (const { id } of SCENARIOS) {
    const row: Record<string, Partial<Record<RatioKey, number>>> = {};
    for (const peer of peers) {
      const cell: Partial<Record<RatioKey, number>> = {};
      for (const { key } of RATIO_METRICS) {
        const values: number[] = [];
        for (const mine of samples) {
          if (mine.tool !== subject || mine.scenario !== id || !mine.ok)
            continue;
          const theirs = samples.find(
            (s) =>
              s.tool === peer &&
              s.scenario === id &&
              s.run === mine.run &&
              s.ok,
          );
          if (theirs === undefined) continue;
          const a = ratioValue(mine, key);
          const b = ratioValue(theirs, key);
          if (a !== undefined && b !== undefined && b > 0) values.push(a / b);
        }
        const value = median(values);
        if (value !== undefined) cell[key] = value;
      }
      row[peer] = cell;
    }
    result[id] = row;
  }
  return result;
}

function format(value: number | undefined, digits: number): string {
  return value === undefined ? "–" : value.toFixed(digits);
}

function cellStatus(cell: Cell | undefined): string {
  if (cell === undefined) return "–";
  if (cell.ok === 0) return cell.failed > 0 ? "FAILED" : "–";
  return cell.failed > 0
    ? `${cell.ok} ok, ${cell.failed} failed`
    : `${cell.ok} ok`;
}

export function textTable(rows: readonly (readonly string[])[]): string {
  const widths =
    rows[0]?.map((_, column) =>
      Math.max(...rows.map((row) => (row[column] ?? "").length)),
    ) ?? [];
  return rows
    .map((row) =>
      row
        .map((value, column) =>
          column < 2
            ? value.padEnd(widths[column] ?? 0)
            : value.padStart(widths[column] ?? 0),
        )
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function markdownTable(rows: readonly (readonly string[])[]): string {
  const [header, ...body] = rows;
  if (header === undefined) return "";
  const line = (row: readonly string[]): string => `| ${row.join(" | ")} |`;
  const rule = header.map((_, column) => (column < 2 ? "---" : "---:"));
  return [line(header), line(rule), ...body.map(line)].join("\n");
}

export interface Tables {
  readonly results: string[][];
  readonly ratios: string[][];
}

export function buildTables(
  summary: Record<string, Record<string, Cell>>,
  ratioTable: ReturnType<typeof ratios>,
  tools: readonly string[],
  subject: string,
  pending: ReadonlySet<string>,
): Tables {
  const results: string[][] = [
    ["scenario", "tool", ...METRICS.map((m) => m.label), "runs"],
  ];
  for (const { id, title } of SCENARIOS)
    for (const tool of tools) {
      const cell = summary[id]?.[tool];
      if (pending.has(tool)) {
        results.push([title, tool, ...METRICS.map(() => "pending"), "pending"]);
        continue;
      }
      results.push([
        title,
        tool,
        ...METRICS.map((m) => format(cell?.medians[m.key], m.digits)),
        cellStatus(cell),
      ]);
    }
  const peers = tools.filter((tool) => tool !== subject);
  const ratioRows: string[][] = [
    ["scenario", "metric", ...peers.map((peer) => `${subject} / ${peer}`)],
  ];
  for (const { id, title } of SCENARIOS)
    for (const { key, label } of RATIO_METRICS)
      ratioRows.push([
        title,
        label,
        ...peers.map((peer) =>
          pending.has(subject)
            ? "pending"
            : format(ratioTable[id]?.[peer]?.[key], 2),
        ),
      ]);
  return { results, ratios: ratioRows };
}

export function renderText(tables: Tables): string {
  return `${textTable(tables.results)}\n\nRatios (median over runs of the ratio within each run):\n${textTable(tables.ratios)}\n`;
}

export function renderMarkdown(tables: Tables): string {
  return `${markdownTable(tables.results)}\n\n${markdownTable(tables.ratios)}\n`;
}
