/**
 * Owners as a restore run by root applies them: a stored user or group name that this machine
 * knows under another number gives that number, so a backup moved between machines whose ids
 * differ comes back owned by the same accounts (restic's behaviour). A name this machine does
 * not know, or an entry stored without names (format 1 trees), keeps its stored numbers, and a
 * restore run by anyone else never changes owners at all, so it maps nothing.
 */
import type { Tree, TreeEntry } from "../../repo/index.js";
import { systemOwnerNames, type OwnerNames } from "../owner-names.js";
import type { RestoreOptions, RestoreRepository } from "./types.js";

/** The entry with this machine's numbers for its stored names, or the entry itself. */
export function localOwner(entry: TreeEntry, names: OwnerNames): TreeEntry {
  const uid = entry.user === undefined ? undefined : names.uidOf(entry.user);
  const gid = entry.group === undefined ? undefined : names.gidOf(entry.group);
  if ((uid ?? entry.uid) === entry.uid && (gid ?? entry.gid) === entry.gid)
    return entry;
  return { ...entry, uid: uid ?? entry.uid, gid: gid ?? entry.gid };
}

function localTree(tree: Tree, names: OwnerNames): Tree {
  return { entries: tree.entries.map((entry) => localOwner(entry, names)) };
}

/** A repository whose trees carry this machine's owner numbers (see localOwner). */
export function withLocalOwners(
  repo: RestoreRepository,
  names: OwnerNames = systemOwnerNames,
): RestoreRepository {
  return {
    load: (...args) => repo.load(...args),
    expect: (ids) => repo.expect?.(ids),
    loadTree: async (id) => localTree(await repo.loadTree(id), names),
    blobId: (plaintext) => repo.blobId(plaintext),
    fileChecksum: (size, content) => repo.fileChecksum(size, content),
    gear: repo.gear,
    config: repo.config,
  };
}

/** The options a restore runs with: owners mapped when it runs as root, as they were else. */
export function ownersForRestore(
  options: RestoreOptions,
  isRoot: boolean,
): RestoreOptions {
  return isRoot ? { ...options, repo: withLocalOwners(options.repo) } : options;
}
