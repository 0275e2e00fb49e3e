/**
 * Where passphrases come from, in order: the environment variable, a file, a command, and
 * last a no-echo prompt on a terminal. Without any of them a non-interactive run fails with a
 * usage error that says how to provide one, instead of hanging on a prompt nobody sees.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { BlindsyncError, describeError } from "../errors.js";
import { childEnvironment } from "../util/child-env.js";

const execFileAsync = promisify(execFile);

export interface PassphraseSources {
  readonly env: string | undefined;
  readonly file?: string | undefined;
  readonly command?: string | undefined;
  /** What to call the passphrase in prompts and errors. */
  readonly label: string;
  /** Names of the options, for the error message. */
  readonly how: string;
  /** Ask twice (new passphrases). */
  readonly confirm: boolean;
}

function stripNewline(text: string): string {
  return text.replace(/\r?\n$/, "");
}

export async function readPassphrase(
  sources: PassphraseSources,
): Promise<Uint8Array> {
  let text: string | undefined;
  if (sources.env !== undefined && sources.env !== "") {
    text = sources.env;
  } else if (sources.file !== undefined) {
    try {
      text = stripNewline(await readFile(sources.file, "utf8"));
    } catch (error) {
      throw new BlindsyncError(
        "usage",
        `Cannot read the ${sources.label} file "${sources.file}": ${describeError(error)}`,
      );
    }
  } else if (sources.command !== undefined) {
    try {
      const { stdout } = await execFileAsync(
        "/bin/sh",
        ["-c", sources.command],
        // It prints a passphrase; it is never given one (util/child-env.ts).
        { maxBuffer: 1 << 20, env: childEnvironment() },
      );
      text = stripNewline(stdout);
    } catch (error) {
      throw new BlindsyncError(
        "usage",
        `The ${sources.label} command failed: ${describeError(error)}`,
      );
    }
  } else if (process.stdin.isTTY && process.stderr.isTTY) {
    text = await promptHidden(`Enter ${sources.label}: `);
    if (
      sources.confirm &&
      (await promptHidden(`Repeat ${sources.label}: `)) !== text
    ) {
      throw new BlindsyncError("usage", `The two ${sources.label}s differ`);
    }
  }
  if (text === undefined) {
    throw new BlindsyncError(
      "usage",
      `No ${sources.label} given and no terminal to ask on`,
      { hint: `Use ${sources.how}` },
    );
  }
  if (text === "")
    throw new BlindsyncError("usage", `The ${sources.label} is empty`);
  return new TextEncoder().encode(text);
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let answer = "";
    const finish = (error?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (data: Buffer): void => {
      for (const character of data.toString("utf8")) {
        if (character === "\r" || character === "\n") {
          finish();
          return;
        }
        if (character === "\u0003") {
          finish(new BlindsyncError("usage", "Interrupted"));
          return;
        }
        if (character === "\u007f" || character === "\b")
          answer = answer.slice(0, -1);
        else answer += character;
      }
    };
    stdin.on("data", onData);
  });
}
