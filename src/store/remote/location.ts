/**
 * Where a repository lives, written as rsync writes it:
 *
 * - `[user@]host:path` — over ssh; `host:path` is only remote when no `/` comes before the
 *   first `:` (so `./a:b` and `/x/a:b` are local). IPv6 hosts go in brackets: `[::1]:path`.
 * - `ssh://[user@]host[:port]/path` — over ssh; `/path` is absolute, `/~/path` and `/./path`
 *   are relative to the remote home directory (as borg reads them).
 * - anything else is a local path.
 */

import { resolve } from "node:path";
import { BlindsyncError } from "../../errors.js";

export type Location =
  | { readonly kind: "local"; readonly path: string }
  | {
      readonly kind: "ssh";
      readonly user?: string;
      readonly host: string;
      readonly port?: number;
      readonly path: string;
    };

/**
 * A location as the command line gave it, parsed once and passed down whole: `text` as typed
 * (for messages), and `key`, the canonical name the client cache and pin are kept under.
 */
export type RepositoryLocation = Location & {
  readonly text: string;
  readonly key: string;
};

const SSH_URL_PREFIX = "ssh://";

/** Parses `text` into the value the layers below take. Throws as parseLocation() does. */
export function resolveLocation(text: string): RepositoryLocation {
  const location = parseLocation(text);
  return { ...location, text, key: locationKey(location) };
}

/**
 * A stable key for a location: a local path made absolute, a remote one written one way. It
 * names the client's cache directory, so it must never change for a location already in use.
 */
export function locationKey(location: Location): string {
  if (location.kind === "local") return resolve(location.path);
  const user = location.user === undefined ? "" : `${location.user}@`;
  const port = location.port === undefined ? "" : `:${location.port}`;
  return `ssh://${user}${location.host}${port}/${location.path}`;
}

/** Parses a repository location. Throws BlindsyncError('usage') for a malformed one. */
export function parseLocation(text: string): Location {
  if (text === "") throw usage(text, "the location is empty");
  if (text.startsWith(SSH_URL_PREFIX)) return parseSshUrl(text);
  return parseScpLike(text) ?? { kind: "local", path: text };
}

function parseSshUrl(text: string): Location {
  const rest = text.slice(SSH_URL_PREFIX.length);
  const slash = authorityEnd(rest);
  if (slash === -1)
    throw usage(
      text,
      "an ssh:// location needs a path after the host, as in ssh://host/path",
    );
  const authority = rest.slice(0, slash);
  let path = rest.slice(slash);
  // "/~/x" and "/./x" mean "relative to the home directory", as borg reads ssh:// URLs.
  if (path.startsWith("/~")) path = path.slice(1);
  else if (path.startsWith("/./")) path = path.slice(3);
  if (path === "" || path === "/" || path === "~" || path === ".")
    throw usage(text, "the repository path is empty");

  const at = authority.lastIndexOf("@");
  const user = at === -1 ? undefined : authority.slice(0, at);
  const hostPort = at === -1 ? authority : authority.slice(at + 1);
  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close === -1) throw usage(text, "an IPv6 host lacks its closing ]");
    host = hostPort.slice(1, close);
    const after = hostPort.slice(close + 1);
    if (after !== "" && !after.startsWith(":"))
      throw usage(text, `unexpected "${after}" after the host`);
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = hostPort.indexOf(":");
    host = colon === -1 ? hostPort : hostPort.slice(0, colon);
    portText = colon === -1 ? undefined : hostPort.slice(colon + 1);
  }
  checkHost(text, host);
  if (user !== undefined) checkUser(text, user);
  const port = portText === undefined ? undefined : parsePort(text, portText);
  return {
    kind: "ssh",
    ...(user === undefined ? {} : { user }),
    host,
    ...(port === undefined ? {} : { port }),
    path,
  };
}

/** The index of the "/" that ends the authority of an ssh:// URL (skipping [IPv6]), or -1. */
function authorityEnd(rest: string): number {
  const bracket = rest.indexOf("[");
  const close = rest.indexOf("]");
  const from = bracket !== -1 && close > bracket ? close : 0;
  return rest.indexOf("/", from);
}

/** `[user@]host:path`, or undefined when `text` is a local path. */
function parseScpLike(text: string): Location | undefined {
  let hostStart = 0;
  const bracket = text.indexOf("[");
  const firstColon = text.indexOf(":");
  const firstSlash = text.indexOf("/");
  let colon = firstColon;
  // An IPv6 host in brackets: its colons do not end the host.
  if (bracket !== -1 && (firstColon === -1 || bracket < firstColon)) {
    const close = text.indexOf("]", bracket);
    if (close !== -1 && text[close + 1] === ":") {
      hostStart = bracket;
      colon = close + 1;
    }
  }
  if (colon === -1) return undefined;
  // A "/" before the colon makes it a local path (rsync's rule): ./a:b, /x/y:z.
  if (firstSlash !== -1 && firstSlash < colon) return undefined;
  const hostPart = text.slice(0, colon);
  const path = text.slice(colon + 1);
  const at = hostPart.lastIndexOf("@", hostStart === 0 ? undefined : hostStart);
  const user = at === -1 ? undefined : hostPart.slice(0, at);
  let host = at === -1 ? hostPart : hostPart.slice(at + 1);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  // ":path" (no host) is a local name, as rsync treats it.
  if (host === "" && user === undefined) return undefined;
  checkHost(text, host);
  if (user !== undefined) checkUser(text, user);
  if (path === "") throw usage(text, `no repository path after "${hostPart}:"`);
  return { kind: "ssh", ...(user === undefined ? {} : { user }), host, path };
}

function checkHost(text: string, host: string): void {
  if (host === "") throw usage(text, "the host is empty");
  // A host that ssh would read as an option (-oProxyCommand=...) must never reach its argv.
  if (host.startsWith("-"))
    throw usage(text, `the host "${host}" starts with "-"`);
  if (/[\s@/]/.test(host)) throw usage(text, `the host "${host}" is not valid`);
}

function checkUser(text: string, user: string): void {
  if (user === "") throw usage(text, "the user name before @ is empty");
  if (user.startsWith("-") || /\s/.test(user))
    throw usage(text, `the user name "${user}" is not valid`);
}

function parsePort(text: string, portText: string): number {
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535))
    throw usage(text, `"${portText}" is not a port number (1-65535)`);
  return port;
}

function usage(text: string, why: string): BlindsyncError {
  return new BlindsyncError(
    "usage",
    `Invalid repository location "${text}": ${why}`,
    {
      hint: "Write it as /local/path, [user@]host:path or ssh://[user@]host[:port]/path",
    },
  );
}

/** The location written back in its canonical form, for messages and cache keys. */
export function formatLocation(location: Location): string {
  if (location.kind === "local") return location.path;
  const user = location.user === undefined ? "" : `${location.user}@`;
  const host = location.host.includes(":")
    ? `[${location.host}]`
    : location.host;
  if (location.port === undefined) return `${user}${host}:${location.path}`;
  const path = location.path.startsWith("/")
    ? location.path
    : `/~/${location.path.replace(/^~\/?/, "")}`;
  return `ssh://${user}${host}:${location.port}${path}`;
}
