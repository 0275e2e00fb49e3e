/**
 * Pack repositories on the three kinds of storage, each saying where on this machine a
 * repository's objects physically lie (the folder the sftp server writes into, s3rver's data
 * directory), so an adversarial test can damage them or search them byte by byte as the
 * storage's owner could. The sftp account may run only OpenSSH's sftp-server (a forced
 * command), so nothing of blindsync runs on the server.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startS3rver } from "./s3rver.js";
import { requireSftpServer } from "./sftp-server.js";
import { startSshd } from "./sshd.js";

export type StorageKind = "dir" | "sftp" | "s3";

export interface PackStorage {
  readonly kind: StorageKind;
  /** REPO of repository `name`. */
  location(name: string): string;
  /** The arguments of `init` for it. */
  initArgs(name: string): string[];
  /** The CLI's environment to reach it. */
  readonly env: Readonly<Record<string, string>>;
  /** The folder where everything the storage keeps for repository `name` lies. */
  root(name: string): string;
  /**
   * The file holding object `objectName` (such as "packs/ab/ab...") of repository `name`.
   * s3rver keeps an object's bytes in a file named after its key with a suffix.
   */
  objectFile(name: string, objectName: string): string;
  stop(): Promise<void>;
}

export async function startPackStorage(
  kind: StorageKind,
): Promise<PackStorage> {
  if (kind === "dir") {
    const root = await mkdtemp(join(tmpdir(), "blindsync-storage-dir-"));
    return {
      kind,
      location: (name) => join(root, name),
      initArgs: (name) => ["init", "--packs", join(root, name)],
      env: {},
      root: (name) => join(root, name),
      objectFile: (name, objectName) => join(root, name, objectName),
      stop: () => rm(root, { recursive: true, force: true }),
    };
  }
  if (kind === "sftp") {
    const server = requireSftpServer();
    const sshd = await startSshd();
    const home = await mkdtemp(join(tmpdir(), "blindsync-storage-sftp-"));
    await sshd.setForcedCommand(`${server} -d ${home}`);
    return {
      kind,
      location: (name) => `sftp:127.0.0.1:${name}`,
      initArgs: (name) => ["init", `sftp:127.0.0.1:${name}`],
      env: { BLINDSYNC_SSH: sshd.sshCommand },
      root: (name) => join(home, name),
      objectFile: (name, objectName) => join(home, name, objectName),
      stop: async () => {
        await sshd.stop();
        await rm(home, { recursive: true, force: true });
      },
    };
  }
  const s3 = await startS3rver();
  return {
    kind,
    location: (name) => `s3:${s3.bucket}/${name}`,
    initArgs: (name) => ["init", `s3:${s3.bucket}/${name}`],
    env: {
      ...s3.env,
      AWS_CONFIG_FILE: "/nonexistent/blindsync-test-config",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/blindsync-test-credentials",
      AWS_EC2_METADATA_DISABLED: "true",
    },
    root: (name) => join(s3.dir, s3.bucket, name),
    objectFile: (name, objectName) =>
      join(s3.dir, s3.bucket, name, `${objectName}._S3rver_object`),
    stop: () => s3.stop(),
  };
}
