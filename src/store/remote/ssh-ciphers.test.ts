import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AES_FIRST_CIPHERS, aesFirstCipherArguments } from "./ssh-ciphers.js";

const ADDED = ["-o", `Ciphers=${AES_FIRST_CIPHERS}`];

describe("aesFirstCipherArguments", () => {
  let home: string;
  let etc: string;
  let places: { home: string; systemConfig: string };

  beforeEach(() => {
    const root = mkdtempSync(join(tmpdir(), "blindsync-ssh-config-"));
    home = join(root, "home");
    etc = join(root, "etc-ssh");
    mkdirSync(join(home, ".ssh"), { recursive: true });
    mkdirSync(join(etc, "ssh_config.d"), { recursive: true });
    places = { home, systemConfig: join(etc, "ssh_config") };
  });

  afterEach(() => {
    rmSync(join(home, ".."), { recursive: true, force: true });
  });

  const userConfig = (text: string) => {
    writeFileSync(join(home, ".ssh", "config"), text);
  };
  const systemConfig = (text: string) => {
    writeFileSync(places.systemConfig, text);
  };

  it("adds OpenSSH's default ciphers with AES-GCM first when nothing chose any", () => {
    expect(AES_FIRST_CIPHERS.split(",").sort()).toEqual(
      [
        "chacha20-poly1305@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
      ].sort(),
    );
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual(ADDED);
    userConfig("Host backup\n  User me\n  Port 2222\n");
    systemConfig("Include ssh_config.d/*.conf\nHost *\n  SendEnv LANG\n");
    expect(
      aesFirstCipherArguments(
        [
          "/usr/bin/ssh",
          "-4",
          "-p",
          "22",
          "-i",
          "/k",
          "-o",
          "BatchMode=yes",
          "-vC",
        ],
        places,
      ),
    ).toEqual(ADDED);
  });

  it("leaves anything but ssh alone, and a command line with a host in it", () => {
    expect(aesFirstCipherArguments(["dbclient"], places)).toEqual([]);
    expect(aesFirstCipherArguments(["sshpass", "-e", "ssh"], places)).toEqual(
      [],
    );
    expect(aesFirstCipherArguments(["ssh", "jumphost", "ssh"], places)).toEqual(
      [],
    );
    expect(aesFirstCipherArguments(["ssh", "-p"], places)).toEqual([]);
  });

  it("respects a cipher named on the command line, however it is spelled", () => {
    for (const words of [
      ["ssh", "-c", "aes256-ctr"],
      ["ssh", "-caes256-ctr"],
      ["ssh", "-Cc", "aes256-ctr"],
      ["ssh", "-o", "Ciphers=aes256-ctr"],
      ["ssh", "-oCiphers=aes256-ctr"],
      ["ssh", "-o", "ciphers aes256-ctr"],
      ["ssh", "-o", "Include=/elsewhere"],
    ])
      expect(aesFirstCipherArguments(words, places), words.join(" ")).toEqual(
        [],
      );
    // An option's argument is not read as options: "-c" here is the identity file's name.
    expect(aesFirstCipherArguments(["ssh", "-i", "-c"], places)).toEqual(ADDED);
  });

  it("respects Ciphers in the user's or the system's configuration, in any Host block", () => {
    userConfig("Host *.example\n  Ciphers aes256-gcm@openssh.com\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
    userConfig("# Ciphers only in a comment\nHost *\n  ciphers=aes256-ctr\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
    userConfig("Host *\n  User me\n");
    systemConfig("Host *\n    Ciphers aes256-ctr\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
  });

  it("follows Include as ssh does: globs, ~ and paths relative to the including file's scope", () => {
    // A distribution's crypto policy arrives through the system config's drop-in directory.
    systemConfig("Include ssh_config.d/*.conf\n");
    writeFileSync(join(etc, "ssh_config.d", "10-local.conf"), "SendEnv LANG\n");
    writeFileSync(join(etc, "ssh_config.d", ".hidden.conf"), "Ciphers x\n");
    writeFileSync(join(etc, "ssh_config.d", "50-policy.txt"), "Ciphers x\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual(ADDED);
    writeFileSync(join(etc, "ssh_config.d", "50-policy.conf"), "Ciphers x\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);

    systemConfig("");
    writeFileSync(join(home, ".ssh", "extra"), "Host a\n  Ciphers x\n");
    userConfig("Include extra\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
    userConfig('Include "~/.ssh/extra"\n');
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
    userConfig("Include ~/.ssh/missing-*.conf /nowhere/at/all\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual(ADDED);
  });

  it("gives up, leaving ssh alone, where it cannot tell", () => {
    userConfig("Include ~other/.ssh/config\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
    userConfig("Include conf.[ab]\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
    userConfig("Include */config\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
    // A configuration that exists but cannot be read (here: a directory).
    rmSync(join(home, ".ssh", "config"));
    mkdirSync(join(home, ".ssh", "config"));
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
  });

  it("stops at an Include loop", () => {
    userConfig("Include config\n");
    expect(aesFirstCipherArguments(["ssh"], places)).toEqual([]);
  });

  it("reads only the -F file when one is given, and nothing for -F none", () => {
    userConfig("Ciphers aes256-ctr\n");
    systemConfig("Ciphers aes256-ctr\n");
    const own = join(home, "own_config");
    writeFileSync(own, "Host *\n  Port 2222\n");
    expect(aesFirstCipherArguments(["ssh", "-F", own], places)).toEqual(ADDED);
    expect(aesFirstCipherArguments(["ssh", "-F", "none"], places)).toEqual(
      ADDED,
    );
    writeFileSync(own, "Ciphers aes256-ctr\n");
    expect(aesFirstCipherArguments(["ssh", `-F${own}`], places)).toEqual([]);
  });
});
