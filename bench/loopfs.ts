/**
 * The benchmark's own file system: a fresh journaled ext4 on a loop device. The machine's root
 * file system has no journal, and there creating many files right after deleting many is 10-15x
 * slower (docs/performance.md), which would make restore times depend on the harness's history.
 */
import { mkdir, rm } from "node:fs/promises";
import { log, runOk, runSync } from "./util.js";

export interface LoopFs {
  readonly image: string;
  readonly device: string;
  readonly mountPoint: string;
  /** Unmounts, detaches and deletes the image; idempotent and synchronous (safe in handlers). */
  readonly release: () => void;
}

export async function createLoopFs(
  sizeGiB: number,
  tag: string,
): Promise<LoopFs> {
  const image = `/var/tmp/blindsync-bench-${tag}.img`;
  const mountPoint = `/mnt/blindsync-bench-${tag}`;
  let device: string | undefined;
  let mounted = false;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    if (mounted) {
      runSync(["sync"]);
      if (runSync(["umount", mountPoint]).code !== 0)
        runSync(["umount", "-l", mountPoint]);
    }
    if (device !== undefined) runSync(["losetup", "-d", device]);
    runSync(["rm", "-f", image]);
    runSync(["rmdir", mountPoint]);
  };
  try {
    await rm(image, { force: true });
    await runOk(["truncate", "-s", `${sizeGiB}G`, image]);
    // A journal on purpose, and inode tables written now, so that no lazy-init thread writes in
    // the background while we measure.
    await runOk([
      "mkfs.ext4",
      "-q",
      "-F",
      "-O",
      "has_journal",
      "-E",
      "lazy_itable_init=0,lazy_journal_init=0",
      image,
    ]);
    device = (await runOk(["losetup", "--find", "--show", image])).trim();
    await mkdir(mountPoint, { recursive: true });
    await runOk(["mount", "-t", "ext4", device, mountPoint]);
    mounted = true;
    const features = await runOk(["tune2fs", "-l", device]);
    if (!/has_journal/.test(features))
      throw new Error(`${image} has no journal`);
    log(
      `loop file system: ${device} (${sizeGiB} GiB ext4, journaled) on ${mountPoint}`,
    );
    return { image, device, mountPoint, release };
  } catch (error) {
    release();
    throw error;
  }
}
