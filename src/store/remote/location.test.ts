import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../errors.js";
import {
  formatLocation,
  locationKey,
  parseLocation,
  resolveLocation,
  type Location,
} from "./location.js";

const cases: [string, Location][] = [
  ["/srv/backup", { kind: "local", path: "/srv/backup" }],
  ["backup", { kind: "local", path: "backup" }],
  ["./a:b", { kind: "local", path: "./a:b" }],
  ["/x/y:z", { kind: "local", path: "/x/y:z" }],
  ["dir/sub:name", { kind: "local", path: "dir/sub:name" }],
  [":path", { kind: "local", path: ":path" }],
  ["host:path", { kind: "ssh", host: "host", path: "path" }],
  ["a:b", { kind: "ssh", host: "a", path: "b" }],
  ["me@host:bk", { kind: "ssh", user: "me", host: "host", path: "bk" }],
  [
    "me@host:/srv/bk",
    { kind: "ssh", user: "me", host: "host", path: "/srv/bk" },
  ],
  ["host:~/bk", { kind: "ssh", host: "host", path: "~/bk" }],
  ["host:a/b:c", { kind: "ssh", host: "host", path: "a/b:c" }],
  ["me@x@host:bk", { kind: "ssh", user: "me@x", host: "host", path: "bk" }],
  ["[::1]:bk", { kind: "ssh", host: "::1", path: "bk" }],
  [
    "me@[fe80::1]:/bk",
    { kind: "ssh", user: "me", host: "fe80::1", path: "/bk" },
  ],
  ["ssh://host/srv/bk", { kind: "ssh", host: "host", path: "/srv/bk" }],
  [
    "ssh://me@host:2222/srv/bk",
    { kind: "ssh", user: "me", host: "host", port: 2222, path: "/srv/bk" },
  ],
  ["ssh://host/~/bk", { kind: "ssh", host: "host", path: "~/bk" }],
  ["ssh://host/./bk", { kind: "ssh", host: "host", path: "bk" }],
  ["ssh://[::1]:2222/p", { kind: "ssh", host: "::1", port: 2222, path: "/p" }],
  ["ssh://me@[::1]/p", { kind: "ssh", user: "me", host: "::1", path: "/p" }],
  ["sftp:host:bk", { kind: "sftp", host: "host", path: "bk" }],
  [
    "sftp:me@host:/srv/bk",
    { kind: "sftp", user: "me", host: "host", path: "/srv/bk" },
  ],
  ["sftp:[::1]:bk", { kind: "sftp", host: "::1", path: "bk" }],
  ["sftp://host/srv/bk", { kind: "sftp", host: "host", path: "/srv/bk" }],
  [
    "sftp://me@host:2222/~/bk",
    { kind: "sftp", user: "me", host: "host", port: 2222, path: "~/bk" },
  ],
  ["s3:my-bucket", { kind: "s3", bucket: "my-bucket", prefix: "" }],
  ["s3:my-bucket/", { kind: "s3", bucket: "my-bucket", prefix: "" }],
  ["s3:my.bucket/a/b", { kind: "s3", bucket: "my.bucket", prefix: "a/b" }],
  ["s3://bk1/laptop/", { kind: "s3", bucket: "bk1", prefix: "laptop" }],
  ["ssh://sftp/bk", { kind: "ssh", host: "sftp", path: "/bk" }],
  ["./sftp:x", { kind: "local", path: "./sftp:x" }],
];

const invalid: [string, RegExp][] = [
  ["", /empty/],
  ["host:", /no repository path/],
  ["ssh://host", /needs a path/],
  ["ssh://host/", /path is empty/],
  ["ssh://host:0/p", /not a port/],
  ["ssh://host:65536/p", /not a port/],
  ["ssh://host:22x/p", /not a port/],
  ["ssh://[::1/p", /closing \]/],
  ["-oProxyCommand=x:p", /starts with "-"/],
  ["ssh://-oProxyCommand=x/p", /starts with "-"/],
  ["@host:p", /user name before @ is empty/],
  ["sftp:path", /needs a host/],
  ["sftp:host:", /no repository path/],
  ["sftp://host", /needs a path/],
  ["sftp:-oProxyCommand=x:p", /starts with "-"/],
  ["s3:", /not an S3 bucket name/],
  ["s3:ab", /not an S3 bucket name/],
  ["s3:My_Bucket/p", /not an S3 bucket name/],
  ["s3://bucket/a//b", /prefix/],
  ["s3:bucket/../x", /prefix/],
  ["s3:bucket/a b", /prefix/],
];

describe("parseLocation()", () => {
  it.each(cases)(
    "parseLocation(%j) reads it as rsync does",
    (text, expected) => {
      expect(parseLocation(text)).toEqual(expected);
    },
  );

  it.each(invalid)(
    "parseLocation(%j) throws a usage error",
    (text, message) => {
      let caught: unknown;
      try {
        parseLocation(text);
      } catch (error) {
        caught = error;
      }
      expect(isBlindsyncError(caught, "usage")).toBe(true);
      expect(String(caught)).toMatch(message);
    },
  );

  it.each(cases)(
    "formatLocation() of %j parses back to the same location",
    (text) => {
      const location = parseLocation(text);
      expect(parseLocation(formatLocation(location))).toEqual(location);
    },
  );
});

describe("resolveLocation()", () => {
  // The key names this client's cache directory (its pin among it): these are the keys that
  // caches already in use were made under, so they may never change.
  const keys: [string, string][] = [
    ["/srv/backup", "/srv/backup"],
    ["/srv/backup/", "/srv/backup"],
    ["backup", resolve("backup")],
    ["./a:b", resolve("a:b")],
    ["host:path", "ssh://host/path"],
    ["me@host:/srv/bk", "ssh://me@host//srv/bk"],
    ["host:~/bk", "ssh://host/~/bk"],
    ["[::1]:bk", "ssh://::1/bk"],
    ["ssh://host/srv/bk", "ssh://host//srv/bk"],
    ["ssh://me@host:2222/srv/bk", "ssh://me@host:2222//srv/bk"],
    ["ssh://host/~/bk", "ssh://host/~/bk"],
    ["ssh://[::1]:2222/p", "ssh://::1:2222//p"],
    ["sftp:me@host:/srv/bk", "sftp://me@host//srv/bk"],
    ["sftp://me@host/srv/bk", "sftp://me@host//srv/bk"],
    ["sftp://host:2222/~/bk", "sftp://host:2222/~/bk"],
    ["s3:bucket/laptop", "s3://bucket/laptop"],
    ["s3://bucket/laptop/", "s3://bucket/laptop"],
  ];

  it.each(keys)("keys %j as %j", (text, key) => {
    expect(resolveLocation(text).key).toBe(key);
    expect(locationKey(parseLocation(text))).toBe(key);
  });

  it.each(cases)(
    "keeps %j as typed beside its parsed parts",
    (text, expected) => {
      const location = resolveLocation(text);
      expect(location.text).toBe(text);
      expect(location).toMatchObject(expected);
      expect(location.kind).toBe(expected.kind);
    },
  );

  it("gives two spellings of one remote location one key, and two locations two", () => {
    expect(resolveLocation("me@host:/srv/bk").key).toBe(
      resolveLocation("ssh://me@host/srv/bk").key,
    );
    expect(resolveLocation("host:bk").key).not.toBe(
      resolveLocation("host:/bk").key,
    );
  });

  it.each(invalid)("refuses %j as parseLocation() does", (text, message) => {
    expect(() => resolveLocation(text)).toThrow(message);
  });
});
