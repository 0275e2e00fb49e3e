/**
 * Owner and group names beside the numeric ids lstat() gives. Backup stores both in each tree
 * entry, so `ls -l` of a snapshot shows names; a restore run as root maps a stored name back to
 * this machine's number where the two machines disagree (restic's behaviour).
 *
 * The client reads /etc/passwd and /etc/group itself (Node has no getpwuid), once per process,
 * on the first lookup: a backup sees few distinct owners and millions of entries, so each id
 * costs one map lookup. A user that only a name service knows (LDAP, sssd) is still named
 * when it is the one running blindsync, through os.userInfo(). An id nobody names is stored
 * without a name, as restic does.
 */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { isOwnerName } from "../repo/index.js";

/** Both directions of one passwd- or group-format file. */
export interface IdNames {
  readonly byId: Map<number, string>;
  readonly byName: Map<string, number>;
}

/**
 * The ids and names of a passwd- or group-format file: `name:password:id:...` per line. The
 * first line naming an id (or a name) wins, as getpwuid() and getpwnam() answer; names a tree
 * could not store are left out rather than cut.
 */
export function parseIdNames(text: string): IdNames {
  const byId = new Map<number, string>();
  const byName = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [name, , idText] = line.split(":", 3);
    if (
      name === undefined ||
      idText === undefined ||
      !/^\d{1,10}$/.test(idText)
    )
      continue;
    const id = Number(idText);
    if (id > 0xffffffff || !isOwnerName(name)) continue;
    if (!byId.has(id)) byId.set(id, name);
    if (!byName.has(name)) byName.set(name, id);
  }
  return { byId, byName };
}

export interface OwnerNameFiles {
  readonly passwd: string;
  readonly group: string;
}

const SYSTEM_FILES: OwnerNameFiles = {
  passwd: "/etc/passwd",
  group: "/etc/group",
};

function readIdNames(path: string): IdNames {
  try {
    return parseIdNames(readFileSync(path, "utf8"));
  } catch {
    // No such file (a minimal container): every id stays unnamed.
    return { byId: new Map(), byName: new Map() };
  }
}

/** The user running this process, from the name service; undefined if it has no name. */
function ownUser(): { uid: number; name: string } | undefined {
  try {
    const info = userInfo();
    return isOwnerName(info.username)
      ? { uid: info.uid, name: info.username }
      : undefined;
  } catch {
    return undefined;
  }
}

export class OwnerNames {
  readonly #files: OwnerNameFiles;
  #users: IdNames | undefined;
  #groups: IdNames | undefined;

  constructor(files: OwnerNameFiles = SYSTEM_FILES) {
    this.#files = files;
  }

  #userTable(): IdNames {
    if (this.#users === undefined) {
      this.#users = readIdNames(this.#files.passwd);
      const own = ownUser();
      if (own !== undefined && !this.#users.byId.has(own.uid)) {
        this.#users.byId.set(own.uid, own.name);
        if (!this.#users.byName.has(own.name))
          this.#users.byName.set(own.name, own.uid);
      }
    }
    return this.#users;
  }

  #groupTable(): IdNames {
    this.#groups ??= readIdNames(this.#files.group);
    return this.#groups;
  }

  /** The user name of `uid`, or undefined when nothing names it. */
  user(uid: number): string | undefined {
    return this.#userTable().byId.get(uid);
  }

  /** The group name of `gid`, or undefined when nothing names it. */
  group(gid: number): string | undefined {
    return this.#groupTable().byId.get(gid);
  }

  /** This machine's uid for a user name, or undefined when it has no such user. */
  uidOf(name: string): number | undefined {
    return this.#userTable().byName.get(name);
  }

  /** This machine's gid for a group name, or undefined when it has no such group. */
  gidOf(name: string): number | undefined {
    return this.#groupTable().byName.get(name);
  }
}

/** The names this machine gives; shared by every backup and restore the process runs. */
export const systemOwnerNames = new OwnerNames();
