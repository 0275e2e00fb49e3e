import { describe, expect, it } from "vitest";
import { childEnvironment, isSecretVariable } from "./child-env.js";

describe("childEnvironment()", () => {
  it("drops blindsync's passphrase variables and keeps everything else, values untouched", () => {
    const env = {
      BLINDSYNC_PASSWORD: "old secret",
      BLINDSYNC_NEW_PASSWORD: "new secret",
      BLINDSYNC_CACHE_DIR: "/cache",
      BLINDSYNC_SSH: "ssh -v",
      SSH_AUTH_SOCK: "/run/agent",
      PATH: "/usr/bin",
    };
    expect(childEnvironment(env)).toEqual({
      BLINDSYNC_CACHE_DIR: "/cache",
      BLINDSYNC_SSH: "ssh -v",
      SSH_AUTH_SOCK: "/run/agent",
      PATH: "/usr/bin",
    });
    // The caller's environment is copied, not edited.
    expect(env.BLINDSYNC_PASSWORD).toBe("old secret");
  });

  it.each([
    ["BLINDSYNC_PASSWORD", true],
    ["BLINDSYNC_NEW_PASSWORD", true],
    ["BLINDSYNC_S3_SECRET", true],
    ["BLINDSYNC_OLD_PASSPHRASE", true],
    ["BLINDSYNC_KDF_LOGN", false],
    ["BLINDSYNC_REMOTE_CMD", false],
    ["PASSWORD", false],
  ])("isSecretVariable(%j) is %j", (name, secret) => {
    expect(isSecretVariable(name)).toBe(secret);
  });
});
