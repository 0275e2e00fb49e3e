/**
 * Issue 17, item 10: no secret reaches a child's environment. ssh hands its environment to a
 * ProxyCommand, and to the server for whatever a `SendEnv` pattern matches; the
 * `--password-command` prints a passphrase and needs none. Here a fake ssh (a script given
 * with --ssh) writes down the environment it was started with and then runs the real
 * `blindsync serve`, and a password command does the same, while both passphrase variables
 * are set; neither name nor value may appear.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";
import { TEST_PASSWORD } from "../helpers/constants.js";

const NEW_PASSWORD = "a second secret, for key add";
/** A harmless variable that must still get through: the dump is real, not empty. */
const MARKER = { BLINDSYNC_TEST_MARKER: "passed-through" };

let work: string;
let repo: string;
let source: string;
let cacheDir: string;

beforeAll(async () => {
  work = await tempDir("blindsync-child-env-");
  repo = join(work, "repo");
  source = join(work, "source");
  cacheDir = join(work, "cache");
  await fsp.mkdir(source);
  await fsp.writeFile(join(source, "note.txt"), "hello\n");
  const init = await runCli(["init", repo], { cacheDir });
  expect(init.code, init.stderr).toBe(0);
});

afterAll(async () => {
  await removeDir(work);
});

/** The names and values a dumped environment (`env -0` output) holds. */
async function dumped(file: string): Promise<Map<string, string>> {
  const text = await fsp.readFile(file, "utf8");
  const entries = text
    .split("\0")
    .filter((entry) => entry !== "")
    .map((entry): [string, string] => {
      const at = entry.indexOf("=");
      return [entry.slice(0, at), entry.slice(at + 1)];
    });
  return new Map(entries);
}

function expectNoSecret(env: Map<string, string>, raw: string): void {
  expect(env.get("BLINDSYNC_TEST_MARKER")).toBe("passed-through");
  expect([...env.keys()].filter((name) => /PASSWORD/.test(name))).toEqual([]);
  expect(raw).not.toContain(TEST_PASSWORD);
  expect(raw).not.toContain(NEW_PASSWORD);
}

describe("the environment of every child process", () => {
  it("the ssh command gets no passphrase variable, and the real serve behind it still works", async () => {
    const dump = join(work, "ssh-env");
    const fakeSsh = join(work, "fake-ssh");
    // ssh's last argument is the remote command line; a real ssh gives it to a shell.
    await fsp.writeFile(
      fakeSsh,
      `#!/bin/sh\nenv -0 > '${dump}'\nfor last; do :; done\nexec /bin/sh -c "$last"\n`,
      { mode: 0o755 },
    );
    const backup = await runCli(
      [
        "backup",
        source,
        `fakehost:${repo}`,
        "--ssh",
        fakeSsh,
        "--remote-cmd",
        `${process.execPath} ${CLI}`,
      ],
      {
        cacheDir,
        env: { ...MARKER, BLINDSYNC_NEW_PASSWORD: NEW_PASSWORD },
      },
    );
    expect(backup.code, backup.stderr).toBe(0);
    expectNoSecret(await dumped(dump), await fsp.readFile(dump, "utf8"));

    // The snapshot went through the fake ssh into the repository.
    const listed = await runCli(["snapshots", "--json", repo], { cacheDir });
    expect(JSON.parse(listed.stdout)).toHaveLength(1);
  });

  it("an ssh command that fails gets no passphrase variable either", async () => {
    const dump = join(work, "failing-ssh-env");
    const failingSsh = join(work, "failing-ssh");
    await fsp.writeFile(
      failingSsh,
      `#!/bin/sh\nenv -0 > '${dump}'\necho "ssh: connect to host fakehost port 22: Connection refused" >&2\nexit 255\n`,
      { mode: 0o755 },
    );
    const snapshots = await runCli(
      ["snapshots", `fakehost:${repo}`, "--ssh", failingSsh],
      { cacheDir, env: { ...MARKER, BLINDSYNC_NEW_PASSWORD: NEW_PASSWORD } },
    );
    expect(snapshots.code).toBe(1);
    expect(snapshots.stderr).toMatch(/Cannot connect to "fakehost"/);
    expectNoSecret(await dumped(dump), await fsp.readFile(dump, "utf8"));
  });

  it("--password-command gets no passphrase variable, and its output still unlocks", async () => {
    const dump = join(work, "command-env");
    const listed = await runCli(
      [
        "snapshots",
        "--json",
        repo,
        "--password-command",
        `env -0 > '${dump}'; printf '%s\\n' '${TEST_PASSWORD}'`,
      ],
      {
        cacheDir,
        // Set but empty, so the command is asked; the other one set, as a user's shell may.
        env: {
          ...MARKER,
          BLINDSYNC_PASSWORD: "",
          BLINDSYNC_NEW_PASSWORD: NEW_PASSWORD,
        },
      },
    );
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toHaveLength(1);
    const env = await dumped(dump);
    expect(env.get("BLINDSYNC_TEST_MARKER")).toBe("passed-through");
    expect([...env.keys()].filter((name) => /PASSWORD/.test(name))).toEqual([]);
    expect(await fsp.readFile(dump, "utf8")).not.toContain(NEW_PASSWORD);
  });
});
