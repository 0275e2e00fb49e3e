// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { importX } from "eslint-plugin-import-x";

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
    rules: {
      "import-x/no-restricted-paths": [
        "error",
        { zones: [...layerZones, ...leafZones] },
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
    },
  },
);
