/**
 * PADME (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", PETS 2019): round n up so that only the top ~log2(log2(n)) + 1 bits of the length stay
 * free. Overhead is at most ~12 % (falling as n grows) and a padded length leaks O(log log n)
 * bits instead of O(log n).
 */
export function padmeLength(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(
      `PADME length must be a non-negative safe integer, got ${n}`,
    );
  if (n < 2) return n;
  const e = Math.floor(Math.log2(n));
  // Math.log2 may round up just below a power of two; correct it so 2^e <= n < 2^(e+1).
  const exponent = 2 ** e > n ? e - 1 : e;
  const s = Math.floor(Math.log2(exponent)) + 1;
  const lastBits = exponent - s;
  if (lastBits <= 0) return n;
  // Division by a power of two is exact in doubles, so this stays exact beyond 2^32.
  const unit = 2 ** lastBits;
  return Math.ceil(n / unit) * unit;
}
