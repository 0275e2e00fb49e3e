// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

// Layers, top to bottom (docs/architecture.md). A layer may import the ones below it and the
// shared leaves (src/errors.ts, src/util/), never one above it.
const layers = [
  "cli",
  "engine",
  "repo",
  "chunker",
  "crypto",
  "store",
  "protocol",
];
const layerZones = layers.flatMap((layer, index) =>
  layers.slice(0, index).map((above) => ({
    target: `./src/${layer}`,
    from: `./src/${above}`,
    message: `src/${layer} sits below src/${above} and must not import it (docs/architecture.md)`,
  })),
);
const leafZones = ["./src/errors.ts", "./src/util"].map((leaf) => ({
  target: leaf,
  from: layers.map((layer) => `./src/${layer}`),
  message: "shared leaves import no layer",
}));

// A folder with an index.ts is entered through it: code elsewhere in src imports that file, never
// the folder's inner modules, so each folder's surface is one list that can be read and kept
// small. src/cli (the top, imported by nobody) and the leaves src/util and src/errors.ts have
// no index. Tests may reach inner modules (they test them); their block below leaves this out.
const indexedFolders = [
  ...layers.filter((layer) => layer !== "cli"),
  "engine/backup",
  "engine/restore",
  "store/rules",
  "store/limits",
];
// Every source file outside `folder`: at each level of its path, the files beside it and the
// folders other than the one leading to it.
const outside = (folder) =>
  folder.split("/").flatMap((part, index, parts) => {
    const parent = ["./src", ...parts.slice(0, index)].join("/");
    return [`${parent}/*.ts`, `${parent}/!(${part})/**`];
  });
const indexZones = indexedFolders.map((folder) => ({
  target: outside(folder),
  from: `./src/${folder}`,
  except: ["./index.ts"],
  message: `import src/${folder} through its index.ts (add what is needed to its exports)`,
}));

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "dist-check/",
      "node_modules/",
      "coverage/",
      "bench/results/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { "import-x": importX },
    // Sources import "./x.js" for ./x.ts (nodenext): without the alias no import resolves, and
    // the path rules below would pass every import unseen.
    settings: {
      "import-x/resolver-next": [
        createNodeResolver({ extensionAlias: { ".js": [".ts", ".js"] } }),
      ],
    },
    rules: {
      "import-x/no-restricted-paths": [
        "error",
        { zones: [...layerZones, ...leafZones, ...indexZones] },
      ],
      "import-x/no-cycle": "error",
      // Only src/cli prints (its own override below); everything else reports through a sink.
      "no-console": "error",
      // Numbers in messages and template strings are normal and readable.
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true },
      ],
      // `_name` marks a parameter an interface requires but this implementation ignores.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["src/cli/**/*.ts", "bench/**/*.ts", "test/**/*.ts", "**/*.test.ts"],
    rules: { "no-console": "off" },
  },
  {
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ["**/*.test.ts", "test/**/*.ts"],
    rules: {
      // Test helpers assert through expect(); non-null assertions on fixtures keep tests short.
      "@typescript-eslint/no-non-null-assertion": "off",
      // Tests exercise inner modules directly, so the index rule is left out; layers still hold.
      "import-x/no-restricted-paths": [
        "error",
        { zones: [...layerZones, ...leafZones] },
      ],
    },
  },
);
