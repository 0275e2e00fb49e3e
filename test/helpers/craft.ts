/**
 * Crafting hostile repository content for adversarial tests: tree bytes written by hand (so the
 * encoder's own name and order checks can be bypassed, as a client holding the key could),
 * sealed with the repository's real keys and saved under validly encrypted snapshots.
 */
import { createHash } from "node:crypto";
import type { Repository, SnapshotRecord } from "../../src/repo/index.js";
import type { BlobId } from "../../src/store/index.js";

export interface RawCommon {
  readonly name: Uint8Array | string;
  readonly mode?: number;
  readonly mtimeNs?: bigint;
}
export interface RawFile extends RawCommon {
  readonly type: "file";
  readonly data: Uint8Array | string;
  readonly hardlink?: { readonly dev: bigint; readonly ino: bigint };
}
export interface RawDir extends RawCommon {
  readonly type: "dir";
  readonly subtree: BlobId;
}
export interface RawLink extends RawCommon {
  readonly type: "symlink";
  readonly target: Uint8Array | string;
}
export type RawEntry = RawFile | RawDir | RawLink;

const MTIME = 1_700_000_000_000_000_000n;
const bytes = (value: Uint8Array | string): Buffer =>
  typeof value === "string" ? Buffer.from(value) : Buffer.from(value);

/** Owner of crafted entries: the test's own user, so a restore as root chowns nothing odd. */
const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

/**
 * Encodes entries exactly as given, in the given order, with no check at all: unsafe names,
 * duplicates and disorder reach the sealed blob as they are (docs/design.md, "Tree plaintext").
 * File contents are sealed and stored as one data blob each.
 */
export async function putRawTree(
  repo: Repository,
  entries: readonly RawEntry[],
): Promise<BlobId> {
  const parts: Buffer[] = [Buffer.of(1), u32(entries.length)];
  for (const entry of entries) {
    const name = bytes(entry.name);
    const head = Buffer.alloc(2 + name.length + 1 + 4 + 8 + 4 + 4);
    let at = head.writeUInt16BE(name.length, 0);
    at += name.copy(head, at);
    at = head.writeUInt8(
      entry.type === "file" ? 1 : entry.type === "dir" ? 2 : 3,
      at,
    );
    at = head.writeUInt32BE(
      entry.mode ??
        (entry.type === "dir" ? 0o755 : entry.type === "file" ? 0o644 : 0o777),
      at,
    );
    at = head.writeBigInt64BE(entry.mtimeNs ?? MTIME, at);
    at = head.writeUInt32BE(me.uid, at);
    head.writeUInt32BE(me.gid, at);
    parts.push(head);
    switch (entry.type) {
      case "file": {
        const data = bytes(entry.data);
        const ids: BlobId[] = [];
        if (data.length > 0) {
          const id = repo.blobId(data);
          await repo.store.put([repo.seal("data", id, data)]);
          ids.push(id);
        }
        const size = Buffer.alloc(8);
        size.writeBigUInt64BE(BigInt(data.length));
        parts.push(size, createHash("sha256").update(data).digest());
        if (entry.hardlink === undefined) parts.push(Buffer.of(0));
        else {
          const link = Buffer.alloc(17);
          link.writeUInt8(1, 0);
          link.writeBigUInt64BE(entry.hardlink.dev, 1);
          link.writeBigUInt64BE(entry.hardlink.ino, 9);
          parts.push(link);
        }
        parts.push(u32(ids.length), ...ids.map((id) => Buffer.from(id)));
        break;
      }
      case "dir":
        parts.push(Buffer.from(entry.subtree));
        break;
      case "symlink": {
        const target = bytes(entry.target);
        parts.push(u32(target.length), target);
        break;
      }
    }
  }
  const plaintext = new Uint8Array(Buffer.concat(parts));
  const blob = repo.seal("tree", repo.blobId(plaintext), plaintext);
  await repo.store.put([blob]);
  return blob.id;
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/**
 * Saves a validly encrypted snapshot of `tree` that follows `previous` in the head chain, as
 * host "crafted"; `fields` overrides any part of the record (a forged sequence number, a hostile
 * host name or tag).
 */
export async function saveCraftedSnapshot(
  repo: Repository,
  tree: BlobId,
  previous: { readonly seq: number; readonly id: BlobId } | undefined,
  time: Date,
  fields: Partial<SnapshotRecord> = {},
): Promise<{ seq: number; id: BlobId }> {
  const record: SnapshotRecord = {
    seq: (previous?.seq ?? 0) + 1,
    previous: previous?.id ?? null,
    tree,
    time: time.toISOString(),
    host: "crafted",
    username: "attacker",
    paths: ["/crafted"],
    tags: [],
    stats: { files: 0, dirs: 0, bytes: 0, blobsAdded: 0, bytesAdded: 0 },
    ...fields,
  };
  const snapshot = await repo.saveSnapshot(record);
  return { seq: snapshot.seq, id: snapshot.id };
}
