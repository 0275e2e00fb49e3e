/**
 * The Store conformance suite on the pack store: over the in-memory ObjectStore, with a small
 * pack and segment size so that every test crosses pack and segment boundaries, and over a
 * real directory with the index cache in a real SQLite file.
 */
import { createHmac, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DirObjectStore,
  MemoryObjectStore,
} from "../../src/store/objects/index.js";
import { PackStore } from "../../src/store/packs/pack-store.js";
import { storeConformanceSuite } from "../store-suite.js";

const key = randomBytes(32);
const authenticator = {
  mac: (bytes: Uint8Array) => createHmac("sha256", key).update(bytes).digest(),
};

storeConformanceSuite("PackStore over memory objects", ({ appendOnly }) => {
  const store = new PackStore(new MemoryObjectStore(), { appendOnly });
  store.authenticate(authenticator);
  return Promise.resolve({ store, cleanup: () => Promise.resolve() });
});

storeConformanceSuite(
  "PackStore with small packs and segments",
  ({ appendOnly }) => {
    const store = new PackStore(new MemoryObjectStore(), {
      appendOnly,
      packSize: 4096,
      segmentEntries: 100,
    });
    store.authenticate(authenticator);
    return Promise.resolve({ store, cleanup: () => Promise.resolve() });
  },
);

storeConformanceSuite("PackStore over a directory", async ({ appendOnly }) => {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-packs-"));
  const objects = await DirObjectStore.open(join(dir, "repo"), {
    create: true,
  });
  const store = new PackStore(objects, {
    appendOnly,
    indexCachePath: join(dir, "index.sqlite"),
  });
  store.authenticate(authenticator);
  return {
    store,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
