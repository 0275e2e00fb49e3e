import { describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../errors.js";
import { explainEarlyExit, splitShellWords, sshArguments } from "./ssh.js";

describe("splitShellWords()", () => {
  it.each([
    ["ssh", ["ssh"]],
    ["  ssh   -v\t-x  ", ["ssh", "-v", "-x"]],
    ["ssh -i '/my keys/id'", ["ssh", "-i", "/my keys/id"]],
    ['ssh -o "ProxyJump=a b"', ["ssh", "-o", "ProxyJump=a b"]],
    [
      'ssh -o "say \\"hi\\" \\\\ \\$x \\n"',
      ["ssh", "-o", 'say "hi" \\ $x \\n'],
    ],
    ["ssh a\\ b", ["ssh", "a b"]],
    ["ssh ''", ["ssh", ""]],
    ["ssh a'b'\"c\"d", ["ssh", "abcd"]],
    ["'it''s'", ["its"]],
    ["", []],
  ])("splitShellWords(%j) splits as a shell does", (text, words) => {
    expect(splitShellWords(text)).toEqual(words);
  });

  it.each(["ssh 'open", 'ssh "open', "ssh \"a'b"])(
    "splitShellWords(%j) refuses an unterminated quote",
    (text) => {
      let caught: unknown;
      try {
        splitShellWords(text);
      } catch (error) {
        caught = error;
      }
      expect(isBlindsyncError(caught, "usage")).toBe(true);
    },
  );
});

describe("sshArguments()", () => {
  it("puts the ssh words, the port, user@host and one remote command string in order", () => {
    expect(
      sshArguments(
        { kind: "ssh", user: "me", host: "host", port: 2222, path: "bk" },
        {
          sshCommand: "ssh -F '/tmp/my config'",
          remoteCommand: "node /x/bin/blindsync.js",
        },
      ),
    ).toEqual([
      "ssh",
      "-F",
      "/tmp/my config",
      "-p",
      "2222",
      "me@host",
      "node /x/bin/blindsync.js serve",
    ]);
  });

  it("defaults to ssh and blindsync", () => {
    expect(sshArguments({ kind: "ssh", host: "h", path: "p" }, {})).toEqual([
      "ssh",
      "h",
      "blindsync serve",
    ]);
  });

  it("refuses an empty ssh command", () => {
    expect(() =>
      sshArguments({ kind: "ssh", host: "h", path: "p" }, { sshCommand: " " }),
    ).toThrow(/ssh command is empty/);
  });
});

describe("explainEarlyExit()", () => {
  const base = {
    error: new Error("lost"),
    spawnError: undefined,
    sshCommand: "ssh",
    remoteCommand: "blindsync",
    where: "me@host",
  };

  it("says ssh could not connect when ssh exits with 255", () => {
    const error = explainEarlyExit({
      ...base,
      code: 255,
      stderr: ["ssh: connect to host host port 22: Connection refused"],
    });
    expect(error.kind).toBe("failed");
    expect(error.message).toBe(
      'Cannot connect to "me@host" with ssh: ssh: connect to host host port 22: Connection refused',
    );
  });

  it("names --remote-cmd when the remote command is missing", () => {
    const error = explainEarlyExit({
      ...base,
      code: 127,
      stderr: ["bash: line 1: blindsync: command not found"],
    });
    expect(error.message).toMatch(
      /remote command "blindsync" was not found on "me@host"/,
    );
    expect(error.hint).toMatch(/--remote-cmd/);
  });

  it("recognises 'not found' on stderr whatever the exit status", () => {
    const error = explainEarlyExit({
      ...base,
      code: 1,
      stderr: ["sh: 1: blindsync: not found"],
    });
    expect(error.hint).toMatch(/--remote-cmd/);
  });

  it("explains an ssh command that cannot be run", () => {
    const error = explainEarlyExit({
      ...base,
      code: null,
      stderr: [],
      spawnError: new Error("spawn nossh ENOENT"),
    });
    expect(error.message).toMatch(/Cannot run the ssh command "ssh"/);
  });
});
