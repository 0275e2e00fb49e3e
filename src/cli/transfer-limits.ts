/** `--limit-upload` and `--limit-download`: KiB/s as restic takes them, checked once. */
import { BlindsyncError } from "../errors.js";

/** A positive whole number of KiB/s; a usage error (exit 2) for anything else. */
export function parseRate(flag: string, text: string): number {
  const rate = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(rate > 0))
    throw new BlindsyncError(
      "usage",
      `${flag} "${text}" is not a rate in KiB/s`,
      { hint: `Give a whole number of KiB per second, e.g. ${flag} 512` },
    );
  return rate;
}
