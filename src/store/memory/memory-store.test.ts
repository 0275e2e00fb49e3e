import { storeConformanceSuite } from "../../../test/store-suite.js";
import { MemoryStore } from "./memory-store.js";

storeConformanceSuite("MemoryStore", ({ appendOnly }) =>
  Promise.resolve({
    store: new MemoryStore({ appendOnly }),
    cleanup: () => Promise.resolve(),
  }),
);
