/**
 * Measuring one command: wall time; client CPU (user + sys of the whole client process tree, from
 * GNU time, which reports the tool plus every child it waited for, such as its ssh); server CPU
 * (the growth of the listening sshd's own and reaped children's CPU counters in /proc: every
 * server-side process, sshd session, shell, sftp-server, `borg serve`, `blindsync serve`,
 * descends from it and is reaped by the time its connection closes); peak RSS of both sides
 * (the larger of the peak of the summed VmRSS of the tree, polled every 50 ms, and the largest
 * single process's high-water mark); and the bytes the proxy saw.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import type { CountingProxy } from "./sshd.js";
import { runSync, sleep, tail } from "./util.js";

const CLOCK_TICKS =
  Number(runSync(["getconf", "CLK_TCK"]).stdout.trim()) || 100;
const POLL_MS = 50;

export interface Measurement {
  readonly ok: boolean;
  readonly exitCode: number;
  readonly wallS: number;
  readonly clientCpuS: number;
  readonly clientPeakRssMiB: number;
  readonly serverCpuS: number;
  readonly serverPeakRssMiB: number;
  /** Bytes client → server and server → client through the proxy. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Share of both cores busy with other work just before the command started. */
  readonly busyBefore: number;
  readonly stdoutTail: string;
  readonly stderrTail: string;
}

function children(pid: number): number[] {
  const found: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
      for (const word of text.split(" "))
        if (word !== "") found.push(Number(word));
    } catch {
      // the task ended
    }
  }
  return found;
}

/** Every descendant of `pid` (not `pid` itself). */
export function descendants(pid: number): number[] {
  const all: number[] = [];
  const queue = children(pid);
  while (queue.length > 0) {
    const next = queue.shift() as number;
    all.push(next);
    queue.push(...children(next));
  }
  return all;
}

interface Memory {
  rssKiB: number;
  hwmKiB: number;
}

function memory(pid: number): Memory | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /VmRSS:\s+(\d+)/.exec(text);
    const hwm = /VmHWM:\s+(\d+)/.exec(text);
    return { rssKiB: Number(rss?.[1] ?? 0), hwmKiB: Number(hwm?.[1] ?? 0) };
  } catch {
    return undefined;
  }
}

/** utime + stime + cutime + cstime of `pid`, in seconds. */
function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, so index 11.
  const ticks = [11, 12, 13, 14].reduce(
    (sum, index) => sum + Number(fields[index] ?? 0),
    0,
  );
  return ticks / CLOCK_TICKS;
}

class TreePeak {
  #peakSum = 0;
  #peakSingle = 0;

  sample(pids: readonly number[]): void {
    let sum = 0;
    for (const pid of pids) {
      const mem = memory(pid);
      if (mem === undefined) continue;
      sum += mem.rssKiB;
      this.#peakSingle = Math.max(this.#peakSingle, mem.hwmKiB);
    }
    this.#peakSum = Math.max(this.#peakSum, sum);
  }

  peakKiB(extraSingleKiB = 0): number {
    return Math.max(this.#peakSum, this.#peakSingle, extraSingleKiB);
  }
}

function cpuTotals(): { idle: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { idle, total: values.reduce((a, b) => a + b, 0) };
}

/** Waits (at most `maxMs`) until the machine is quiet; returns the busy share last seen. */
export async function waitQuiet(maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let busy = 1;
  do {
    const before = cpuTotals();
    await sleep(300);
    const after = cpuTotals();
    const total = after.total - before.total;
    busy = total > 0 ? 1 - (after.idle - before.idle) / total : 0;
    if (busy < 0.1) break;
  } while (Date.now() < deadline);
  return busy;
}

/** Waits until no connection is open and the sshd has no child left (all reaped). */
async function waitServerIdle(
  sshdPid: number,
  proxy: CountingProxy,
  maxMs: number,
): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    if (proxy.openConnections() === 0 && children(sshdPid).length === 0)
      return true;
    await sleep(20);
  }
  return false;
}

export interface MeasureContext {
  /** The benchmark's sshd and its counting proxy; absent for local repositories. */
  readonly sshdPid?: number;
  readonly proxy?: CountingProxy;
  readonly timeFile: string;
  /** How long to wait for a quiet machine before each command (default 10 s). */
  readonly quietWaitMs?: number;
}

export interface CommandSpec {
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
}

const KEEP_OUTPUT = 64 * 1024;

export async function measure(
  context: MeasureContext,
  command: CommandSpec,
): Promise<Measurement> {
  const { sshdPid, proxy, timeFile } = context;
  if (sshdPid !== undefined && proxy !== undefined)
    await waitServerIdle(sshdPid, proxy, 10_000);
  runSync(["sync"]);
  const busyBefore = await waitQuiet(context.quietWaitMs ?? 10_000);
  const serverCpuBefore = sshdPid === undefined ? 0 : cpuSeconds(sshdPid);
  proxy?.takeCounts();
  await rm(timeFile, { force: true });
  const started = process.hrtime.bigint();
  const child = spawn(
    "/usr/bin/time",
    ["-f", "%e %U %S %M", "-o", timeFile, "--", ...command.argv],
    {
      cwd: command.cwd,
      env: command.env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (data: Buffer) => {
    stdout = (stdout + data.toString("utf8")).slice(-KEEP_OUTPUT);
  });
  child.stderr.on("data", (data: Buffer) => {
    stderr = (stderr + data.toString("utf8")).slice(-KEEP_OUTPUT);
  });
  const client = new TreePeak();
  const server = new TreePeak();
  const timePid = child.pid;
  const poll = setInterval(() => {
    if (timePid !== undefined) client.sample(descendants(timePid));
    if (sshdPid !== undefined) server.sample(descendants(sshdPid));
  }, POLL_MS);
  const exitCode = await new Promise<number>((resolve) => {
    child.on("error", (error) => {
      stderr += `\n${error.message}`;
      resolve(127);
    });
    child.on("close", (code) => {
      resolve(code ?? -1);
    });
  });
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(poll);
  const idle =
    sshdPid === undefined ||
    proxy === undefined ||
    (await waitServerIdle(sshdPid, proxy, 30_000));
  if (!idle)
    stderr += "\n(bench: server side still busy 30 s after the client exited)";
  const serverCpuS =
    sshdPid === undefined ? 0 : cpuSeconds(sshdPid) - serverCpuBefore;
  const bytes = proxy?.takeCounts() ?? { up: 0, down: 0 };
  let clientCpuS = Number.NaN;
  let clientMaxRssKiB = 0;
  try {
    const lines = (await readFile(timeFile, "utf8")).trim().split("\n");
    const last = (lines[lines.length - 1] ?? "").split(" ").map(Number);
    clientCpuS = (last[1] ?? Number.NaN) + (last[2] ?? Number.NaN);
    clientMaxRssKiB = last[3] ?? 0;
  } catch {
    // time did not write its report (the command could not start)
  }
  return {
    ok: exitCode === 0,
    exitCode,
    wallS,
    clientCpuS,
    clientPeakRssMiB: client.peakKiB(clientMaxRssKiB) / 1024,
    serverCpuS,
    serverPeakRssMiB: server.peakKiB() / 1024,
    bytesUp: bytes.up,
    bytesDown: bytes.down,
    busyBefore,
    stdoutTail: stdout,
    stderrTail: tail(stderr, 8),
  };
}
