/**
 * T9 (issue 6): nonce uniqueness. AES-GCM under one key must never see a nonce twice; blindsync
 * gets there without a stored counter by giving every process and worker a random 24-byte
 * session id (the session key is derived from it) and counting from zero (borg 2's scheme).
 *
 * This test collects (session id, counter) from the 40-byte header of every blob stored in a
 * repository (bytes 8..40) after: several CLI backups running in parallel, sequential restarts,
 * backups killed with SIGKILL in the middle of their uploads and then resumed, and direct seals
 * through the blob codec in worker_threads (each worker re-opening the repository several
 * times, as restarts do). It asserts that no (session, counter) pair repeats anywhere and that
 * every process, every restart and every worker round used a session id of its own.
 *
 * Counts: 10^4 seals in CI, 10^6 with BLINDSYNC_LONG=1 (the CLI part stores a few thousand to a
 * few ten thousand blobs; workers make up the rest).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, runCli, spawnCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { count, LONG } from "../helpers/counts.js";
import { storedBlobCount, storedHeaders } from "../helpers/database.js";
import { Prng } from "../helpers/prng.js";
import { throttledRepository } from "../helpers/throttled.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const TOTAL_SEALS = count(10_000, 1_000_000);
const PARALLEL = count(3, 4);
const RESTARTS = count(2, 5);
const KILLS = count(2, 10);
const FILES_PER_RUN = count(100, 2_000);
const FILES_PER_KILLED_RUN = count(1_500, 6_000);
/**
 * Bytes per second a killed run may upload: its first batch (1024 small blobs, about 250 KiB)
 * commits after some 2.5 s and the rest still needs over a second, so the kill (at most 300 ms
 * after the first commit) lands mid-upload however fast the machine is.
 */
const KILLED_UPLOAD_RATE = 96 * 1024;
const WORKERS = 2;
const WORKER_ROUNDS = count(2, 5);

/** The pids of every process below `pid` (Linux: /proc/PID/task/TID/children). */
function descendants(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return children;
  }
  for (const task of tasks) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
    } catch {
      continue;
    }
    for (const word of text.split(" ").filter((w) => w !== "")) {
      const child = Number(word);
      children.push(child, ...descendants(child));
    }
  }
  return children;
}

/** Waits (at most a minute) until none of `pids` runs any more. */
async function allExited(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (pids.some((pid) => existsSync(`/proc/${pid}`))) {
    expect(Date.now(), `processes ${pids.join(", ")} still run`).toBeLessThan(
      deadline,
    );
    await sleep(50);
  }
}

/** Writes `files` small files of distinct content (seeded) into a new directory. */
function writeSmallFiles(dir: string, seed: number, files: number): string {
  mkdirSync(dir, { recursive: true });
  const random = new Prng(seed);
  for (let index = 0; index < files; index++) {
    const body = Buffer.alloc(64 + Math.floor(random.next() * 200));
    for (let i = 0; i < body.length; i++)
      body[i] = Math.floor(random.next() * 256);
    writeFileSync(join(dir, `f${index}`), body);
  }
  return dir;
}

/**
 * Worker body (plain JavaScript, evaluated): opens the repository through the built dist/
 * modules, then seals `perRound` small plaintexts per round; round 0 through Repository.seal
 * (its own session), every later round through a new Sealer built from the repository's
 * SealerSpec (a session of its own), as a worker pool would. Sends back the 32 bytes (session
 * id, counter) of every header, and checks one blob per round opens again (so the headers are
 * those of real, valid blobs).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { randomBytes } = require("node:crypto");
(async () => {
  const { SqliteStore } = await import(workerData.storeUrl);
  const { Repository } = await import(workerData.repoUrl);
  const { Sealer } = await import(workerData.sealerUrl);
  const out = new Uint8Array(workerData.rounds * workerData.perRound * 32);
  let offset = 0;
  for (let round = 0; round < workerData.rounds; round++) {
    const store = await SqliteStore.open(workerData.repo, { readonly: true });
    const repo = await Repository.open(store, new TextEncoder().encode(workerData.password));
    const sealer = Sealer.fromSpec(repo.sealerSpec());
    for (let i = 0; i < workerData.perRound; i++) {
      const plaintext = randomBytes(48);
      const id = repo.blobId(plaintext);
      const bytes = round === 0
        ? repo.seal("data", id, plaintext, "off").bytes
        : sealer.seal("data", id, plaintext, "off");
      out.set(bytes.subarray(8, 40), offset);
      offset += 32;
      if (i === 0 && repo.open("data", id, bytes).length !== plaintext.length)
        throw new Error("a sealed blob did not open");
    }
    await store.close();
  }
  parentPort.postMessage(out, [out.buffer]);
})().catch((error) => { throw error; });
`;

function runWorker(
  repo: string,
  rounds: number,
  perRound: number,
): Promise<Uint8Array> {
  const url = (path: string): string =>
    pathToFileURL(`${PROJECT_ROOT}dist/${path}`).href;
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        repo,
        rounds,
        perRound,
        password: TEST_PASSWORD,
        storeUrl: url("store/index.js"),
        repoUrl: url("repo/index.js"),
        sealerUrl: url("repo/sealer.js"),
      },
    });
    worker.once("message", (headers: Uint8Array) => {
      resolve(headers);
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
    });
  });
}

/** All (session, counter) pairs, grouped by session: duplicates are found per session by sorting. */
class PairLedger {
  readonly bySession = new Map<string, number[]>();
  total = 0;

  add(session: string, counter: bigint): void {
    if (counter > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Error(`counter ${counter} too large`);
    let counters = this.bySession.get(session);
    if (counters === undefined) {
      counters = [];
      this.bySession.set(session, counters);
    }
    counters.push(Number(counter));
    this.total++;
  }

  /** Every (session, counter) pair that occurs more than once, at most 10. */
  repeats(): string[] {
    const found: string[] = [];
    for (const [session, counters] of this.bySession) {
      const sorted = Float64Array.from(counters).sort();
      for (let i = 1; i < sorted.length && found.length < 10; i++)
        if (sorted[i] === sorted[i - 1]) found.push(`${session}/${sorted[i]}`);
    }
    return found;
  }
}

describe("T9 nonce uniqueness across processes, restarts, kill -9 and workers", () => {
  let work: string;
  let repo: string;
  /** Session ids seen in the repository so far, per blob id. */
  const known = new Map<string, string>();

  beforeAll(async () => {
    work = await tempDir("blindsync-nonce-");
    repo = join(work, "repo");
    const init = await runCli(["init", repo], {
      cacheDir: join(work, "cache-init"),
    });
    expect(init.code, init.stderr).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  /** Sessions of the blobs stored since the last call (blob ids not seen before). */
  function newSessions(): Set<string> {
    const sessions = new Set<string>();
    for (const header of storedHeaders(repo)) {
      if (known.has(header.id)) continue;
      known.set(header.id, header.session);
      sessions.add(header.session);
    }
    return sessions;
  }

  const allSessions = new Set<string>();
  function expectFresh(sessions: Set<string>, what: string): void {
    for (const session of sessions)
      expect(
        allSessions.has(session),
        `${what} reused session ${session}`,
      ).toBe(false);
    for (const session of sessions) allSessions.add(session);
  }

  it(`${PARALLEL} backups running in parallel each seal under a session id of their own`, async () => {
    const runs = Array.from({ length: PARALLEL }, (_, index) =>
      runCli(
        [
          "backup",
          writeSmallFiles(
            join(work, `parallel-${index}`),
            100 + index,
            FILES_PER_RUN,
          ),
          repo,
        ],
        { cacheDir: join(work, `cache-parallel-${index}`) },
      ),
    );
    for (const result of await Promise.all(runs))
      expect(result.code, result.stderr).toBe(0);
    const sessions = newSessions();
    expect(sessions.size).toBeGreaterThanOrEqual(PARALLEL);
    expectFresh(sessions, "a parallel backup");
  });

  it(`${RESTARTS} sequential restarts each use a new session id`, async () => {
    const cacheDir = join(work, "cache-restarts");
    for (let run = 0; run < RESTARTS; run++) {
      const source = writeSmallFiles(
        join(work, `restart-${run}`),
        200 + run,
        FILES_PER_RUN,
      );
      const result = await runCli(["backup", source, repo], { cacheDir });
      expect(result.code, result.stderr).toBe(0);
      const sessions = newSessions();
      expect(
        sessions.size,
        `restart ${run} stored nothing`,
      ).toBeGreaterThanOrEqual(1);
      expectFresh(sessions, `restart ${run}`);
    }
  });

  it(`${KILLS} backups killed with SIGKILL mid-upload, then resumed, never reuse a session`, async () => {
    const cacheDir = join(work, "cache-kills");
    const killedRepo = throttledRepository(repo, KILLED_UPLOAD_RATE);
    const random = new Prng(9009);
    const sources: string[] = [];
    let killedMidUpload = 0;
    for (let run = 0; run < KILLS; run++) {
      const source = writeSmallFiles(
        join(work, `killed-${run}`),
        300 + run,
        FILES_PER_KILLED_RUN,
      );
      sources.push(source);
      const before = storedBlobCount(repo);
      // Through the throttled stand-in for ssh, so the upload outlasts the kill on any machine.
      const cli = spawnCli(["backup", source, killedRepo.location], {
        cacheDir,
        env: killedRepo.env,
      });
      // Kill once the process has committed its first batch, plus a seeded extra delay.
      while (!cli.exited() && storedBlobCount(repo) === before) await sleep(10);
      await sleep(Math.floor(random.next() * 300));
      // The stand-in ssh and `serve` below it outlive the client and commit what was already
      // sent; they must be done before this run's sessions are read, or the next run would
      // seem to reuse this one's session.
      const server = descendants(cli.child.pid ?? 0);
      if (!cli.exited()) cli.child.kill("SIGKILL");
      const result = await cli.done;
      await allExited(server);
      if (result.signal === "SIGKILL") killedMidUpload++;
      else expect(result.code, result.stderr).toBe(0);
      const sessions = newSessions();
      expect(sessions.size).toBeGreaterThanOrEqual(1);
      expectFresh(sessions, `killed run ${run}`);
    }
    // Most runs must really have died mid-upload, or this test proves nothing about kill -9.
    expect(killedMidUpload).toBeGreaterThanOrEqual(Math.ceil(KILLS / 2));
    const resumed = await runCli(["backup", ...sources, killedRepo.location], {
      cacheDir,
      env: killedRepo.env,
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    expectFresh(newSessions(), "the resumed backup");
  });

  it(
    `no (session, counter) pair repeats in ${TOTAL_SEALS} seals, including worker threads, and every worker round has its own session`,
    async () => {
      const ledger = new PairLedger();
      const stored = storedHeaders(repo);
      for (const header of stored) ledger.add(header.session, header.counter);
      expect(ledger.repeats(), "stored blobs repeat a nonce").toEqual([]);
      expect(new Set(stored.map((header) => header.session))).toEqual(
        allSessions,
      );

      const remaining = Math.max(
        TOTAL_SEALS - stored.length,
        WORKERS * WORKER_ROUNDS,
      );
      const perRound = Math.ceil(remaining / (WORKERS * WORKER_ROUNDS));
      const results = await Promise.all(
        Array.from({ length: WORKERS }, () =>
          runWorker(repo, WORKER_ROUNDS, perRound),
        ),
      );
      const workerSessions = new Set<string>();
      for (const headers of results) {
        const buffer = Buffer.from(
          headers.buffer,
          headers.byteOffset,
          headers.byteLength,
        );
        expect(buffer.length).toBe(WORKER_ROUNDS * perRound * 32);
        for (let round = 0; round < WORKER_ROUNDS; round++) {
          const roundSessions = new Set<string>();
          for (let i = 0; i < perRound; i++) {
            const at = (round * perRound + i) * 32;
            const session = buffer.toString("hex", at, at + 24);
            const counter = buffer.readBigUInt64BE(at + 24);
            roundSessions.add(session);
            ledger.add(session, counter);
          }
          // One session per round (no rotation below 2^32 seals), never one seen elsewhere.
          expect(roundSessions.size).toBe(1);
          for (const session of roundSessions) {
            expect(
              workerSessions.has(session) || allSessions.has(session),
            ).toBe(false);
            workerSessions.add(session);
          }
        }
      }
      expect(workerSessions.size).toBe(WORKERS * WORKER_ROUNDS);
      expect(ledger.total).toBeGreaterThanOrEqual(TOTAL_SEALS);
      expect(ledger.repeats(), "a (session, counter) pair repeats").toEqual([]);
    },
    LONG ? 1_200_000 : 120_000,
  );
});
