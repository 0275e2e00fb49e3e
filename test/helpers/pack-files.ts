/**
 * A pack directory as the storage sees it: the objects' files, and the trailers and index
 * segments read without any key, from the layout docs/pack-format.md gives (a second reader,
 * written from the document, not from src/store/packs). Storage can read all of this; what it
 * cannot do is MAC an edit. Also reads, with the passphrase and the library, which file uses
 * which blob, so a test knows what a damage should cost independently of `check`.
 */
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Repository } from "../../src/repo/index.js";
import { openStore } from "../../src/store/index.js";
import { toHex } from "../../src/util/bytes.js";
import { TEST_PASSPHRASE } from "./constants.js";

export type PackedKind = "data" | "tree";

export interface PackBlob {
  /** Hex blob id. */
  readonly id: string;
  readonly offset: number;
  readonly length: number;
}

export interface PackFile {
  /** Hex SHA-256 of the object: its name. */
  readonly id: string;
  readonly path: string;
  readonly kind: PackedKind;
  readonly blobs: readonly PackBlob[];
  /** Where the trailer starts (the sum of the blobs' lengths). */
  readonly trailerAt: number;
  readonly size: number;
}

export interface SegmentEntry {
  readonly id: string;
  /** Hex id of the pack the entry names. */
  readonly pack: string;
  readonly offset: number;
  readonly length: number;
  /** Where the entry's 48 bytes start in the segment object. */
  readonly at: number;
}

export interface SegmentFile {
  readonly id: string;
  readonly path: string;
  readonly packs: readonly string[];
  readonly entries: readonly SegmentEntry[];
  readonly supersedes: readonly string[];
}

const KINDS: Record<number, PackedKind> = { 1: "data", 2: "tree" };

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function kindOf(code: number): PackedKind {
  const kind = KINDS[code];
  if (kind === undefined) throw new Error(`unknown pack kind ${code}`);
  return kind;
}

/** Reads one pack's trailer (its MAC is not, and without the key cannot be, checked). */
export function readPack(path: string): PackFile {
  const bytes = readFileSync(path);
  const footer = bytes.length - 8;
  if (bytes.subarray(footer + 4).toString("latin1") !== "BSPF")
    throw new Error(`${path}: no pack footer`);
  const trailerLength = bytes.readUInt32BE(footer);
  const trailerAt = footer - trailerLength;
  if (bytes.subarray(trailerAt, trailerAt + 4).toString("latin1") !== "BSPT")
    throw new Error(`${path}: no pack trailer`);
  const kind = kindOf(bytes.readUInt8(trailerAt + 5));
  const count = bytes.readUInt32BE(trailerAt + 8);
  const blobs: PackBlob[] = [];
  let at = trailerAt + 4 + 1 + 1 + 2 + 4 + 8 + 16;
  for (let index = 0; index < count; index++, at += 44) {
    blobs.push({
      id: bytes.subarray(at, at + 32).toString("hex"),
      offset: Number(bytes.readBigUInt64BE(at + 32)),
      length: bytes.readUInt32BE(at + 40),
    });
  }
  return {
    id: sha256(bytes),
    path,
    kind,
    blobs,
    trailerAt,
    size: bytes.length,
  };
}

/** Reads one index segment (its MAC unchecked). */
export function readSegment(path: string): SegmentFile {
  const bytes = readFileSync(path);
  if (bytes.subarray(0, 4).toString("latin1") !== "BSIX")
    throw new Error(`${path}: not an index segment`);
  const packCount = bytes.readUInt32BE(8);
  const entryCount = bytes.readUInt32BE(12);
  const supersedeCount = bytes.readUInt32BE(16);
  let at = 24;
  const packs: string[] = [];
  for (let index = 0; index < packCount; index++, at += 41)
    packs.push(bytes.subarray(at, at + 32).toString("hex"));
  const entries: SegmentEntry[] = [];
  for (let index = 0; index < entryCount; index++, at += 48) {
    const pack = packs[bytes.readUInt32BE(at + 32)];
    if (pack === undefined) throw new Error(`${path}: entry out of pack table`);
    entries.push({
      id: bytes.subarray(at, at + 32).toString("hex"),
      pack,
      offset: Number(bytes.readBigUInt64BE(at + 36)),
      length: bytes.readUInt32BE(at + 44),
      at,
    });
  }
  const supersedes: string[] = [];
  for (let index = 0; index < supersedeCount; index++, at += 32)
    supersedes.push(bytes.subarray(at, at + 32).toString("hex"));
  return { id: sha256(bytes), path, packs, entries, supersedes };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => !path.split("/").some((part) => part.startsWith(".")))
    .filter((path) => statSync(path).isFile())
    .sort();
}

export function packsOf(repo: string): PackFile[] {
  return filesUnder(join(repo, "packs")).map(readPack);
}

export function segmentsOf(repo: string): SegmentFile[] {
  return filesUnder(join(repo, "index")).map(readSegment);
}

/** The path of pack `id` in pack directory `repo`. */
export function packPath(repo: string, id: string): string {
  return join(repo, "packs", id.slice(0, 2), id);
}

/** Flips the lowest bit of the byte at `at` (from the end when negative). */
export function flipByte(path: string, at: number): void {
  const bytes = readFileSync(path);
  const index = at < 0 ? bytes.length + at : at;
  bytes[index] = (bytes[index] ?? 0) ^ 1;
  writeFileSync(path, bytes);
}

export interface PackLayout {
  /** Hex id of each data blob → the file paths that use it, in any snapshot. */
  readonly dataUsers: Map<string, string[]>;
  /** Hex id of each tree → the directory paths it is ("" for the root). */
  readonly treeUsers: Map<string, string[]>;
  /** Hex ids of the snapshots, in chain order. */
  readonly snapshots: string[];
}

/**
 * Which file uses which blob in every snapshot of the pack repository at `location`, read with
 * the passphrase and the library (not `check`). Run it on an undamaged repository.
 */
export async function readPackLayout(location: string): Promise<PackLayout> {
  const store = await openStore(location, { mode: "open" });
  try {
    const repository = await Repository.open(store, TEST_PASSPHRASE);
    const dataUsers = new Map<string, string[]>();
    const treeUsers = new Map<string, string[]>();
    const add = (map: Map<string, string[]>, id: Uint8Array, path: string) => {
      const list = map.get(toHex(id)) ?? [];
      if (!list.includes(path)) list.push(path);
      map.set(toHex(id), list);
    };
    const visit = async (id: Uint8Array, path: string): Promise<void> => {
      add(treeUsers, id, path);
      const tree = await repository.loadTree(id);
      for (const entry of tree.entries) {
        const name = Buffer.from(entry.name).toString("utf8");
        const child = path === "" ? name : `${path}/${name}`;
        if (entry.type === "dir") await visit(entry.subtree, child);
        else if (entry.type === "file")
          for (const blob of entry.content) add(dataUsers, blob, child);
      }
    };
    const snapshots = await repository.listSnapshots();
    for (const snapshot of snapshots) await visit(snapshot.tree, "");
    return {
      dataUsers,
      treeUsers,
      snapshots: snapshots.map((snapshot) => toHex(snapshot.id)),
    };
  } finally {
    await store.close();
  }
}
