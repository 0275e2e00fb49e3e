/**
 * The client cache as tests look into it: the root holds one directory per repository
 * location, and the CACHEDIR.TAG that marks the whole root as a cache (repo/cache/location.ts).
 */
import { readdirSync } from "node:fs";

/** The names of the location directories under a cache root (the tag left out). */
export function locationDirs(cacheDir: string): string[] {
  return readdirSync(cacheDir).filter((name) => name !== "CACHEDIR.TAG");
}
