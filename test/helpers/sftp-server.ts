/**
 * OpenSSH's own sftp-server, which speaks sftp on its stdin/stdout: the sftp tests run it as a
 * local child (no sshd needed) or name it as the forced command of the test sshd.
 */

import { existsSync } from "node:fs";

/** Where Debian's openssh-sftp-server installs it. */
export const SFTP_SERVER = "/usr/lib/openssh/sftp-server";

/** Fails with a clear message when sftp-server is missing; never skips silently. */
export function requireSftpServer(): string {
  if (!existsSync(SFTP_SERVER))
    throw new Error(
      `${SFTP_SERVER} is missing: the sftp tests need OpenSSH's sftp server (apt-get install -y openssh-sftp-server)`,
    );
  return SFTP_SERVER;
}
