/**
 * A snapshot of one directory keeps that directory's own mode, owner and mtime in the
 * snapshot record (its contents are the root tree). Restore applies them to the target, as
 * rsync does for `SRC/ DST`, after everything inside is written.
 */
import { chmod, lchown, lstat } from "node:fs/promises";
import { BlindsyncError } from "../errors.js";
import type { RootMeta } from "../repo/index.js";
import { setFileTimes } from "../util/file-times.js";

export async function applyRootMeta(
  target: string,
  root: RootMeta,
): Promise<void> {
  const stat = await lstat(target);
  if (!stat.isDirectory())
    throw new BlindsyncError(
      "failed",
      `Restore target "${target}" is not a directory`,
    );
  if (process.getuid?.() === 0) await lchown(target, root.uid, root.gid);
  await chmod(target, root.mode);
  await setFileTimes(target, root.mtimeNs);
}
