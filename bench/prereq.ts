/**
 * The programs the benchmark needs, and the Debian packages that provide them: installed with
 * apt-get when missing and running as root, otherwise named exactly.
 */
import { existsSync } from "node:fs";
import { log, run, which } from "./util.js";

const NEEDS: readonly (readonly [program: string, pkg: string])[] = [
  ["restic", "restic"],
  ["borg", "borgbackup"],
  ["rsync", "rsync"],
  ["/usr/sbin/sshd", "openssh-server"],
  ["/usr/lib/openssh/sftp-server", "openssh-sftp-server"],
  ["ssh", "openssh-client"],
  ["ssh-keygen", "openssh-client"],
  ["/usr/bin/time", "time"],
  ["losetup", "mount"],
  ["mkfs.ext4", "e2fsprogs"],
  ["tune2fs", "e2fsprogs"],
  ["git", "git"],
];

function present(program: string): boolean {
  return program.startsWith("/")
    ? existsSync(program)
    : which(program) !== undefined;
}

export function missingPackages(): string[] {
  const missing = new Set<string>();
  for (const [program, pkg] of NEEDS) if (!present(program)) missing.add(pkg);
  return [...missing];
}

/** Installs what is missing; throws with the exact install command when it cannot. */
export async function ensurePrerequisites(): Promise<void> {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot)
    throw new Error(
      "the benchmark needs root (it creates and mounts a loop device and runs its own sshd); " +
        `run it as root, after: apt-get install -y ${NEEDS.map(([, pkg]) => pkg)
          .filter((pkg, index, all) => all.indexOf(pkg) === index)
          .join(" ")}`,
    );
  const missing = missingPackages();
  if (missing.length === 0) return;
  log(`installing ${missing.join(" ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = await run(["apt-get", "update", "-qq"], { env });
  const install = await run(["apt-get", "install", "-y", "-qq", ...missing], {
    env,
  });
  const still = missingPackages();
  if (still.length > 0)
    throw new Error(
      `could not install ${still.join(" ")} (apt-get update: ${update.code}, install: ${install.code}: ${install.stderr.trim().slice(-500)}); install them with: apt-get install -y ${still.join(" ")}`,
    );
}
