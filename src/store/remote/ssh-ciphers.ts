/**
 * Asking OpenSSH for AES-GCM first. Everything blindsync sends is sealed before it reaches ssh,
 * so ssh's cipher protects only the protocol around the blobs, and on this kind of machine the
 * client, ssh, sshd and `serve` share the cores: ssh's default, chacha20-poly1305, cost about
 * twice the CPU of aes128-gcm where the CPU has AES instructions, and a full backup or restore
 * took 7–9 % longer with it (docs/performance.md, seventh round).
 *
 * The list below is OpenSSH's default set of ciphers (unchanged since 6.9) with the two GCM
 * ciphers moved to the front, so a server that allows only some of them still connects. It is
 * added only where it overrides nothing the user chose: the program is `ssh`, its command line
 * names no cipher (`-c`, `-o Ciphers`), and no configuration file ssh will read sets `Ciphers`
 * (a distribution's crypto policy usually does, through an Include). The caller decides
 * whether both ends have AES instructions (ssh.ts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";

export const AES_FIRST_CIPHERS = [
  "aes128-gcm@openssh.com",
  "aes256-gcm@openssh.com",
  "chacha20-poly1305@openssh.com",
  "aes128-ctr",
  "aes192-ctr",
  "aes256-ctr",
].join(",");

/** Where ssh looks for its configuration: the user's file and the system-wide one. */
export interface SshConfigPlaces {
  readonly home: string;
  readonly systemConfig: string;
}

const DEFAULT_PLACES: SshConfigPlaces = {
  home: homedir(),
  systemConfig: "/etc/ssh/ssh_config",
};

/** OpenSSH's options that take an argument (its getopt string, 9.x). */
const TAKES_ARGUMENT = new Set("bceilmopBDEFIJLOPQRSwW");
/** Includes nested deeper than this are not followed (OpenSSH stops at 16 too). */
const MAX_INCLUDE_DEPTH = 16;

interface CommandLineChoice {
  /** The command line names a cipher, or includes a configuration of its own. */
  readonly choosesCiphers: boolean;
  /** `-F`: the only configuration file ssh reads. */
  readonly configFile: string | undefined;
}

/**
 * Reads ssh's options as its getopt would; undefined when a word is not an option (a host or a
 * command in the ssh command line: not a line this module second-guesses).
 */
function readCommandLine(
  options: readonly string[],
): CommandLineChoice | undefined {
  let choosesCiphers = false;
  let configFile: string | undefined;
  for (let index = 0; index < options.length; index++) {
    const word = options[index] as string;
    if (!word.startsWith("-") || word === "-" || word === "--")
      return undefined;
    for (let at = 1; at < word.length; at++) {
      const letter = word.charAt(at);
      if (!TAKES_ARGUMENT.has(letter)) continue;
      let value = word.slice(at + 1);
      if (value === "") {
        index++;
        if (index >= options.length) return undefined;
        value = options[index] as string;
      }
      if (letter === "c") choosesCiphers = true;
      if (letter === "o" && /^\s*(ciphers|include)\s*[=\s]/i.test(value))
        choosesCiphers = true;
      if (letter === "F") configFile = value;
      break;
    }
  }
  return { choosesCiphers, configFile };
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${body}$`);
}

/**
 * The files one Include pattern names, in the order ssh reads them; undefined when the pattern
 * uses something this reader does not follow (character classes, tokens, `~user`), which counts
 * as "may set Ciphers".
 */
function expandInclude(
  pattern: string,
  relativeTo: string,
  home: string,
): string[] | undefined {
  if (/[[\]{}$%]/.test(pattern)) return undefined;
  let path = pattern;
  if (path === "~" || path.startsWith("~/")) path = join(home, path.slice(1));
  else if (path.startsWith("~")) return undefined;
  if (!isAbsolute(path)) path = join(relativeTo, path);
  const directory = dirname(path);
  const name = basename(path);
  if (/[*?]/.test(directory)) return undefined;
  if (!/[*?]/.test(name)) return [path];
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? [] : undefined;
  }
  const matcher = globToRegExp(name);
  // glob(7): a wildcard does not match a leading dot.
  return names
    .filter((entry) => !entry.startsWith(".") && matcher.test(entry))
    .sort()
    .map((entry) => join(directory, entry));
}

/** Splits a line's arguments on blanks, honouring double quotes as ssh does. */
function configArguments(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map(
    (match) => match[1] ?? match[2] ?? "",
  );
}

/**
 * Whether a configuration file (or a file it includes) sets Ciphers. A missing file sets
 * nothing; one that cannot be read, or an Include that cannot be followed, counts as setting
 * it, so blindsync then leaves ssh's ciphers alone.
 */
function configChoosesCiphers(
  file: string,
  relativeTo: string,
  home: string,
  depth: number,
): boolean {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (match === null) continue;
    const keyword = (match[1] as string).toLowerCase();
    if (keyword === "ciphers") return true;
    if (keyword !== "include") continue;
    if (depth >= MAX_INCLUDE_DEPTH) return true;
    for (const pattern of configArguments(match[2] as string)) {
      const files = expandInclude(pattern, relativeTo, home);
      if (files === undefined) return true;
      for (const included of files)
        if (configChoosesCiphers(included, relativeTo, home, depth + 1))
          return true;
    }
  }
  return false;
}

/**
 * The arguments to add to the ssh command line `words` (program first) so that ssh proposes
 * AES-GCM first: `-o Ciphers=…`, or nothing when the program is not `ssh` or the user chose
 * ciphers on its command line or in a configuration file ssh reads.
 */
export function aesFirstCipherArguments(
  words: readonly string[],
  places: SshConfigPlaces = DEFAULT_PLACES,
): string[] {
  const [program, ...options] = words;
  if (program === undefined || basename(program) !== "ssh") return [];
  const choice = readCommandLine(options);
  if (choice === undefined || choice.choosesCiphers) return [];
  const userDirectory = join(places.home, ".ssh");
  const files: (readonly [file: string, relativeTo: string])[] =
    choice.configFile === undefined
      ? [
          [join(userDirectory, "config"), userDirectory],
          [places.systemConfig, dirname(places.systemConfig)],
        ]
      : choice.configFile === "none"
        ? []
        : [[resolve(choice.configFile), userDirectory]];
  for (const [file, relativeTo] of files)
    if (configChoosesCiphers(file, relativeTo, places.home, 0)) return [];
  return ["-o", `Ciphers=${AES_FIRST_CIPHERS}`];
}
