/**
 * How many cases an adversarial test runs: a fast count in CI (`npm test`), the full
 * count with `npm run test:long` (BLINDSYNC_LONG=1).
 */
export const LONG = process.env.BLINDSYNC_LONG === "1";

export function count(ci: number, long: number): number {
  return LONG ? long : ci;
}
