/**
 * Where a repository lives, written as rsync writes it:
 *
 * - `[user@]host:path` — over ssh; `host:path` is only remote when no `/` comes before the
 *   first `:` (so `./a:b` and `/x/a:b` are local). IPv6 hosts go in brackets: `[::1]:path`.
 * - `ssh://[user@]host[:port]/path` — over ssh; `/path` is absolute, `/~/path` and `/./path`
 *   are relative to the remote home directory (as borg reads them).
 * - `sftp:[user@]host:path` and `sftp://[user@]host[:port]/path` — a pack repository over the
 *   sftp subsystem (nothing of ours runs there), read as the ssh forms are.
 * - `s3:bucket/prefix` and `s3://bucket/prefix` — a pack repository in an S3-compatible bucket
 *   (the endpoint comes from --s3-endpoint or the SDK's configuration, not from the location).
 * - anything else is a local path (a SQLite repository, or a pack directory made by
 *   `init --packs`).
 *
 * The `sftp:` and `s3:` prefixes win over rsync's `host:path`, as in restic: a host named
 * "sftp" or "s3" is reached as ssh://sftp/path.
 */

import { resolve } from "node:path";
import { BlindsyncError } from "../../errors.js";

/** A host reached through the system ssh, and a path there. */
export interface RemoteAddress {
  readonly user?: string;
  readonly host: string;
  readonly port?: number;
  readonly path: string;
}

export type Location =
  | { readonly kind: "local"; readonly path: string }
  | ({ readonly kind: "ssh" } & RemoteAddress)
  | ({ readonly kind: "sftp" } & RemoteAddress)
  | {
      readonly kind: "s3";
      readonly bucket: string;
      /** The folder in the bucket, without a leading or trailing "/"; "" for the whole bucket. */
      readonly prefix: string;
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
const SFTP_URL_PREFIX = "sftp://";
const SFTP_PREFIX = "sftp:";
const S3_URL_PREFIX = "s3://";
const S3_PREFIX = "s3:";

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
  if (location.kind === "s3")
    return `s3://${location.bucket}/${location.prefix}`;
  const user = location.user === undefined ? "" : `${location.user}@`;
  const port = location.port === undefined ? "" : `:${location.port}`;
  return `${location.kind}://${user}${location.host}${port}/${location.path}`;
}

/** Parses a repository location. Throws BlindsyncError('usage') for a malformed one. */
export function parseLocation(text: string): Location {
  if (text === "") throw usage(text, "the location is empty");
  if (text.startsWith(SSH_URL_PREFIX))
    return { kind: "ssh", ...parseUrlAddress(text, SSH_URL_PREFIX) };
  if (text.startsWith(SFTP_URL_PREFIX))
    return { kind: "sftp", ...parseUrlAddress(text, SFTP_URL_PREFIX) };
  if (text.startsWith(SFTP_PREFIX)) {
    const address = parseScpLike(text.slice(SFTP_PREFIX.length), text);
    if (address === undefined)
      throw usage(text, "an sftp: location needs a host, as in sftp:host:path");
    return { kind: "sftp", ...address };
  }
  if (text.startsWith(S3_URL_PREFIX))
    return parseS3(text, text.slice(S3_URL_PREFIX.length));
  if (text.startsWith(S3_PREFIX))
    return parseS3(text, text.slice(S3_PREFIX.length));
  const address = parseScpLike(text, text);
  return address === undefined
    ? { kind: "local", path: text }
    : { kind: "ssh", ...address };
}

/**
 * S3's bucket naming rules (3-63 characters of lowercase letters, digits, "." and "-",
 * starting and ending with a letter or digit); the prefix is made of object-name segments.
 */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

function parseS3(text: string, rest: string): Location {
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = (slash === -1 ? "" : rest.slice(slash + 1)).replace(
    /\/+$/,
    "",
  );
  if (!BUCKET.test(bucket))
    throw usage(
      text,
      `"${bucket}" is not an S3 bucket name (3-63 lowercase letters, digits, "." and "-")`,
    );
  if (prefix !== "" && !prefix.split("/").every((s) => PREFIX_SEGMENT.test(s)))
    throw usage(
      text,
      `the prefix "${prefix}" may hold only letters, digits, "_", "-", "." and single "/" between names`,
    );
  return { kind: "s3", bucket, prefix };
}

/** The address of an ssh:// or sftp:// URL. */
function parseUrlAddress(text: string, scheme: string): RemoteAddress {
  const rest = text.slice(scheme.length);
  const slash = authorityEnd(rest);
  if (slash === -1)
    throw usage(
      text,
      `an ${scheme} location needs a path after the host, as in ${scheme}host/path`,
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

/**
 * `[user@]host:path`, or undefined when `text` is a local path. `whole` is the location as
 * typed, for messages.
 */
function parseScpLike(text: string, whole: string): RemoteAddress | undefined {
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
  checkHost(whole, host);
  if (user !== undefined) checkUser(whole, user);
  if (path === "")
    throw usage(whole, `no repository path after "${hostPart}:"`);
  return { ...(user === undefined ? {} : { user }), host, path };
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
      hint: "Write it as /local/path, [user@]host:path, ssh://[user@]host[:port]/path, sftp:[user@]host:path or s3:bucket/prefix",
    },
  );
}

/** The location written back in its canonical form, for messages and cache keys. */
export function formatLocation(location: Location): string {
  if (location.kind === "local") return location.path;
  if (location.kind === "s3")
    return location.prefix === ""
      ? `s3:${location.bucket}`
      : `s3:${location.bucket}/${location.prefix}`;
  const scheme = location.kind === "sftp" ? "sftp:" : "";
  const user = location.user === undefined ? "" : `${location.user}@`;
  const host = location.host.includes(":")
    ? `[${location.host}]`
    : location.host;
  // A host named like a prefix ("sftp", "s3") needs the URL form to stay an ssh location.
  const prefixLike =
    location.kind === "ssh" && /^(sftp|s3)$/.test(location.host);
  if (location.port === undefined && !prefixLike)
    return `${scheme}${user}${host}:${location.path}`;
  const port = location.port === undefined ? "" : `:${location.port}`;
  const path = location.path.startsWith("/")
    ? location.path
    : `/~/${location.path.replace(/^~\/?/, "")}`;
  return `${location.kind}://${user}${host}${port}${path}`;
}
