/**
 * list() of the sftp ObjectStore: walks the folders a prefix can reach with OPENDIR and
 * READDIR, several folders at a time (packs/ has 256 subfolders; one at a time would pay a
 * round trip per folder), yielding objects as each folder is read. Dot names (temporary files
 * of puts in progress) are never listed; a missing folder lists nothing.
 */

import { isObjectName } from "../names.js";
import type { ObjectInfo } from "../object-store.js";
import { SftpStatusError, type DirEntry, type SftpClient } from "./client.js";
import { isDirectory, isRegularFile, isSymlink, Status } from "./codec.js";

/** Folders read at once. */
const FOLDERS_IN_FLIGHT = 8;
/** An object name has at most 8 segments (names.ts), so at most 7 folders hold it. */
const MAX_DEPTH = 8;

/** Every object under `root` whose name starts with `prefix` (checked by the caller). */
export async function* listObjects(
  client: SftpClient,
  root: string,
  prefix: string,
): AsyncGenerator<ObjectInfo> {
  // The deepest folder every match lies in: "packs/a" and "packs/" both start in "packs".
  const cut = prefix.lastIndexOf("/");
  const queue = [cut === -1 ? "" : prefix.slice(0, cut)];
  const reading = new Map<string, Promise<[string, DirEntry[]]>>();
  try {
    while (queue.length > 0 || reading.size > 0) {
      for (const folder of queue.splice(0, FOLDERS_IN_FLIGHT - reading.size))
        reading.set(
          folder,
          readFolder(client, root, folder).then((entries) => [folder, entries]),
        );
      const [folder, entries] = await Promise.race(reading.values());
      reading.delete(folder);
      for (const entry of entries) {
        if (entry.name.startsWith(".")) continue;
        const name = folder === "" ? entry.name : `${folder}/${entry.name}`;
        let attrs = entry.attrs;
        // READDIR reports the link itself (lstat); a symlinked folder or file is followed.
        if (isSymlink(attrs))
          attrs = await client
            .stat(`${root}/${name}`)
            .catch(() => ({}) as const);
        if (isDirectory(attrs)) {
          const asFolder = `${name}/`;
          // No name lies deeper: a symlink loop is not walked further (the server's ELOOP
          // would end it later).
          if (
            (asFolder.startsWith(prefix) || prefix.startsWith(asFolder)) &&
            name.split("/").length < MAX_DEPTH
          )
            queue.push(name);
        } else if (
          isRegularFile(attrs) &&
          name.startsWith(prefix) &&
          isObjectName(name) &&
          attrs.size !== undefined
        )
          yield { name, size: attrs.size };
      }
    }
  } finally {
    // A consumer that stops early leaves folders being read: their replies are awaited, so no
    // rejection goes unhandled and no handle is left open.
    await Promise.allSettled(reading.values());
  }
}

/** A put's temporary file (sftp-object-store.ts): `.tmp-` and 16 hex digits. */
const TEMPORARY_NAME = /^\.tmp-[0-9a-f]{16}$/;

/**
 * Removes the temporary files of puts that died, unchanged since `before` (seconds since the
 * epoch), in every folder under `root`; links are neither followed nor removed. Returns how
 * many were removed.
 */
export async function sweepTemporaries(
  client: SftpClient,
  root: string,
  before: number,
): Promise<number> {
  let removed = 0;
  const queue = [""];
  for (
    let folder = queue.shift();
    folder !== undefined;
    folder = queue.shift()
  ) {
    for (const entry of await readFolder(client, root, folder)) {
      if (entry.name === "." || entry.name === "..") continue;
      const name = folder === "" ? entry.name : `${folder}/${entry.name}`;
      if (isDirectory(entry.attrs)) {
        if (name.split("/").length < MAX_DEPTH) queue.push(name);
        continue;
      }
      const { mtime } = entry.attrs;
      if (
        !isRegularFile(entry.attrs) ||
        !TEMPORARY_NAME.test(entry.name) ||
        mtime === undefined ||
        mtime > before
      )
        continue;
      try {
        await client.remove(`${root}/${name}`);
        removed++;
      } catch (error) {
        if (
          !(error instanceof SftpStatusError) ||
          error.status !== Status.NO_SUCH_FILE
        )
          throw error;
      }
    }
  }
  return removed;
}

/** Every entry of one folder under `root` ("" for the root itself); [] when it is missing. */
async function readFolder(
  client: SftpClient,
  root: string,
  folder: string,
): Promise<DirEntry[]> {
  const path = folder === "" ? root : `${root}/${folder}`;
  let handle: Uint8Array;
  try {
    handle = await client.opendir(path);
  } catch (error) {
    if (
      error instanceof SftpStatusError &&
      error.status === Status.NO_SUCH_FILE
    )
      return [];
    throw error;
  }
  const entries: DirEntry[] = [];
  try {
    for (;;) {
      const batch = await client.readdir(handle, path);
      if (batch === undefined) return entries;
      entries.push(...batch);
    }
  } finally {
    await client.close(handle, path);
  }
}
