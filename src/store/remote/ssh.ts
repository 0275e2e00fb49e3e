/**
 * Reaching a remote repository the way rsync and borg do: spawn the system `ssh` (so
 * ~/.ssh/config, agents, jump hosts and keys just work), run `blindsync serve` there, and speak
 * the protocol over ssh's stdin/stdout. ssh's stderr goes to the caller line by line.
 */

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import {
  BlindsyncError,
  describeError,
  isBlindsyncError,
} from "../../errors.js";
import type { OpenMode } from "../../protocol/index.js";
import { childEnvironment } from "../../util/child-env.js";
import { cpuHasAes } from "../../util/cpu-features.js";
import { throttledStream, type Limiters } from "../limits/index.js";
import { RemoteStore, type RemoteTransport } from "./client.js";
import type { ConnectionOptions } from "./connection.js";
import { formatLocation, type Location } from "./location.js";
import { aesFirstCipherArguments } from "./ssh-ciphers.js";

export interface SshStoreOptions extends ConnectionOptions {
  readonly mode: OpenMode;
  /** Made by open.ts from ConnectionOptions.limits: the pipe to serve is held to them. */
  readonly limiters?: Limiters | undefined;
}

/**
 * ssh's stdin and stdout, each through a throttled stream when its direction is limited.
 * Errors of the pipes beneath are reported as before, through the lost connection. Exported
 * for its test.
 */
export function limitedTransport(
  child: Pick<ChildProcessWithoutNullStreams, "stdin" | "stdout">,
  limiters: Limiters | undefined,
): RemoteTransport {
  let readable: RemoteTransport["readable"] = child.stdout;
  let writable: RemoteTransport["writable"] = child.stdin;
  if (limiters?.download !== undefined) {
    const down = throttledStream(limiters.download);
    child.stdout.on("error", (error) => {
      down.destroy(error);
    });
    readable = child.stdout.pipe(down);
  }
  if (limiters?.upload !== undefined) {
    const up = throttledStream(limiters.upload);
    up.pipe(child.stdin);
    writable = up;
  }
  return { readable, writable };
}

const DEFAULT_SSH = "ssh";
const DEFAULT_REMOTE_COMMAND = "blindsync";
/** How long close() waits for ssh to exit after the goodbye before killing it. */
const EXIT_GRACE_MS = 5000;
/** How many stderr lines are kept to explain a failure. */
const STDERR_LINES_KEPT = 20;

/**
 * Splits a command line into words as a POSIX shell would, without expanding anything: blanks
 * separate words, '…' quotes literally, "…" quotes with \\ \" \$ \` escapes, and a backslash
 * outside quotes escapes the next character. Throws BlindsyncError('usage') on an unterminated
 * quote.
 */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw unterminated(text, "'");
      word += text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text.charAt(j) !== '"'; j++) {
        const d = text.charAt(j);
        if (
          d === "\\" &&
          j + 1 < text.length &&
          '\\"$`\n'.includes(text.charAt(j + 1))
        ) {
          j++;
          if (text.charAt(j) !== "\n") word += text.charAt(j);
        } else word += d;
      }
      if (j >= text.length) throw unterminated(text, '"');
      i = j;
    } else if (c === "\\") {
      if (i + 1 < text.length) {
        i++;
        // A backslash-newline is a line continuation, not a character.
        if (text.charAt(i) !== "\n") word += text.charAt(i);
      }
    } else word += c;
  }
  if (inWord) words.push(word);
  return words;
}

function unterminated(text: string, quote: string): BlindsyncError {
  return new BlindsyncError(
    "usage",
    `Unterminated ${quote} in the ssh command "${text}"`,
    {
      hint: "Quote the ssh command as a shell would, e.g. --ssh \"ssh -i '/my keys/id'\"",
    },
  );
}

/**
 * The argv of the ssh process for `location` (exported for tests and --dry-run messages).
 * `preferAesGcm`: ask for AES-GCM first (ssh-ciphers.ts) unless the user chose ciphers.
 */
export function sshArguments(
  location: Extract<Location, { kind: "ssh" }>,
  options: Pick<ConnectionOptions, "sshCommand" | "remoteCommand">,
  preferAesGcm = false,
): string[] {
  // The remote command is one string: ssh hands it to the remote shell, which splits it.
  const remote = `${options.remoteCommand ?? DEFAULT_REMOTE_COMMAND} serve`;
  return [
    ...sshOptionArguments(location, options.sshCommand, preferAesGcm),
    sshDestination(location),
    remote,
  ];
}

/**
 * Everything of an ssh command line that comes before the destination: the ssh command's words
 * (--ssh / BLINDSYNC_SSH, default "ssh"), the cipher choice and the port. Shared by `serve`
 * connections and the sftp object store, so both honour the same replacement command.
 */
export function sshOptionArguments(
  location: { readonly port?: number | undefined },
  sshCommand: string | undefined,
  preferAesGcm = false,
): string[] {
  const words = splitShellWords(sshCommand ?? DEFAULT_SSH);
  if (words.length === 0)
    throw new BlindsyncError("usage", "The ssh command is empty", {
      hint: 'Set --ssh or BLINDSYNC_SSH to a command such as "ssh -i ~/.ssh/backup"',
    });
  return [
    ...words,
    ...(preferAesGcm ? aesFirstCipherArguments(words) : []),
    ...(location.port === undefined ? [] : ["-p", String(location.port)]),
  ];
}

/** `user@host`, or `host` alone. */
export function sshDestination(location: {
  readonly user?: string | undefined;
  readonly host: string;
}): string {
  return location.user === undefined
    ? location.host
    : `${location.user}@${location.host}`;
}

/**
 * Opens a repository over ssh. When ssh ends before the server's hello, throws one clear
 * BlindsyncError('failed') saying whether ssh could not connect or the remote command is
 * missing, with what to try; a refusal from the server (no repository, path not allowed) is
 * rethrown as the server worded it.
 */
export async function openSshStore(
  location: Extract<Location, { kind: "ssh" }>,
  options: SshStoreOptions,
): Promise<RemoteStore> {
  // Both ends have AES instructions: this CPU, and the server's as it said last time.
  const preferAesGcm =
    options.cipherHint !== undefined &&
    cpuHasAes() &&
    options.cipherHint.earlier() === true;
  const argv = sshArguments(location, options, preferAesGcm);
  const [command, ...args] = argv;
  if (command === undefined)
    throw new TypeError("sshArguments() returned nothing");
  const remoteCommand = options.remoteCommand ?? DEFAULT_REMOTE_COMMAND;
  const where = sshDestination(location);

  // Without our passphrases: ssh hands its environment to a ProxyCommand, and to the server
  // for every variable a SendEnv pattern matches (util/child-env.ts).
  const child: ChildProcessWithoutNullStreams = spawn(command, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: childEnvironment(),
  });
  const stderrLines: string[] = [];
  const stderrDone = new Promise<void>((resolve) => {
    const lines = createInterface({ input: child.stderr, crlfDelay: Infinity });
    lines.on("line", (line) => {
      stderrLines.push(line);
      if (stderrLines.length > STDERR_LINES_KEPT) stderrLines.shift();
      options.onStderr?.(line);
    });
    lines.on("close", resolve);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: string | null }>(
    (resolve) => {
      child.on("error", (error) => {
        spawnError = error;
        resolve({ code: null, signal: null });
      });
      child.on("exit", (code, signal) => {
        resolve({ code, signal });
      });
    },
  );
  let exit: { code: number | null; signal: string | null } | undefined;
  void exited.then((result) => {
    exit = result;
  });
  // stdin errors (EPIPE once ssh is gone) are reported through the lost connection instead.
  child.stdin.on("error", () => undefined);

  const describeExit = (): string | undefined => {
    if (exit === undefined) return undefined;
    const status =
      exit.signal !== null
        ? `ssh was killed by ${exit.signal}`
        : `ssh exited with status ${String(exit.code)}`;
    const last = stderrLines.at(-1);
    return last === undefined ? status : `${status} (${last})`;
  };

  try {
    const store = await RemoteStore.connect(
      limitedTransport(child, options.limiters),
      {
        path: location.path,
        mode: options.mode,
        describeDisconnect: describeExit,
        onClose: async () => {
          const timer = setTimeout(() => child.kill("SIGTERM"), EXIT_GRACE_MS);
          try {
            await exited;
            await stderrDone;
          } finally {
            clearTimeout(timer);
          }
        },
      },
    );
    options.cipherHint?.heard(store.serverHasAes);
    return store;
  } catch (error) {
    // The server's own refusal (no repository, path not allowed, version) is the answer.
    if (
      isBlindsyncError(error) &&
      error.kind !== "transient" &&
      error.kind !== "protocol"
    ) {
      await stopChild(child, exited);
      throw error.kind === "no-repository"
        ? noRepository(location, error)
        : error;
    }
    const timer = setTimeout(() => child.kill("SIGTERM"), EXIT_GRACE_MS);
    const result = await exited;
    clearTimeout(timer);
    await stderrDone;
    throw explainEarlyExit({
      error,
      spawnError,
      code: result.code,
      stderr: stderrLines,
      sshCommand: options.sshCommand ?? DEFAULT_SSH,
      remoteCommand,
      where,
    });
  }
}

/** The server names its own path; the user should read the location they typed. */
function noRepository(
  location: Extract<Location, { kind: "ssh" }>,
  error: BlindsyncError,
): BlindsyncError {
  const where = formatLocation(location);
  return new BlindsyncError("no-repository", `No repository at "${where}"`, {
    cause: error,
    hint: `Create one with: blindsync init ${where}`,
  });
}

async function stopChild(
  child: ChildProcessWithoutNullStreams,
  exited: Promise<unknown>,
): Promise<void> {
  child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGTERM"), EXIT_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

interface EarlyExit {
  readonly error: unknown;
  readonly spawnError: Error | undefined;
  readonly code: number | null;
  readonly stderr: readonly string[];
  readonly sshCommand: string;
  readonly remoteCommand: string;
  readonly where: string;
}

/** The ssh command could not be started at all (not installed, not executable). */
export function sshSpawnError(
  sshCommand: string,
  spawnError: unknown,
): BlindsyncError {
  return new BlindsyncError(
    "failed",
    `Cannot run the ssh command "${sshCommand}": ${describeError(spawnError)}`,
    {
      cause: spawnError,
      hint: "Install OpenSSH, or set --ssh / BLINDSYNC_SSH",
    },
  );
}

/** Turns "ssh ended before the hello" into one line that says which failure it was. */
export function explainEarlyExit(exit: EarlyExit): BlindsyncError {
  const last = exit.stderr.filter((line) => line.trim() !== "").at(-1);
  const said = last === undefined ? "" : `: ${last.trim()}`;
  if (exit.spawnError !== undefined)
    return sshSpawnError(exit.sshCommand, exit.spawnError);
  const notFound =
    exit.code === 127 ||
    exit.code === 126 ||
    exit.stderr.some((line) =>
      /not found|No such file or directory|command not found/i.test(line),
    );
  if (exit.code === 255)
    return new BlindsyncError(
      "failed",
      `Cannot connect to "${exit.where}" with ssh${said}`,
      {
        cause: exit.error,
        hint: `Check the host name, port and keys by running: ssh ${exit.where}`,
      },
    );
  if (notFound)
    return new BlindsyncError(
      "failed",
      `The remote command "${exit.remoteCommand}" was not found on "${exit.where}"${said}`,
      {
        cause: exit.error,
        hint: `Install blindsync on the server, or name it with --remote-cmd (or BLINDSYNC_REMOTE_CMD), e.g. --remote-cmd "/path/to/blindsync"`,
      },
    );
  const status =
    exit.code === null ? "was killed" : `exited with status ${exit.code}`;
  return new BlindsyncError(
    "failed",
    `ssh to "${exit.where}" ${status} before blindsync serve answered${said}`,
    {
      cause: exit.error,
      hint: `Check that "${exit.remoteCommand} serve" runs on the server, or set --remote-cmd`,
    },
  );
}
