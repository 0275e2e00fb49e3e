import { objectStoreConformanceSuite } from "../../../test/object-store-suite.js";
import { MemoryObjectStore } from "./memory-object-store.js";

objectStoreConformanceSuite("MemoryObjectStore", () =>
  Promise.resolve({
    objects: new MemoryObjectStore(),
    cleanup: () => Promise.resolve(),
  }),
);
