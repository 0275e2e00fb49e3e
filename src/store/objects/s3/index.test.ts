import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../..", import.meta.url));

/** Which of the AWS SDK's modules a fresh node has loaded after running `code` (ESM). */
function sdkModulesAfter(code: string): number {
  const script = `${code}
import { createRequire } from "node:module";
const cache = createRequire(import.meta.url).cache;
process.stdout.write(String(Object.keys(cache).filter((path) => path.includes("@aws-sdk")).length));`;
  return Number(
    execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: root,
      encoding: "utf8",
    }),
  );
}

describe("store/objects/s3/index.ts", () => {
  it("loads no module of the AWS SDK until an S3 store is opened", () => {
    // The built module, as the CLI loads it (the vitest global setup builds dist/).
    expect(
      sdkModulesAfter(`await import("./dist/store/objects/s3/index.js");`),
    ).toBe(0);
    // The probe itself sees the SDK once it is loaded.
    expect(
      sdkModulesAfter(
        `await import("./dist/store/objects/s3/s3-object-store.js");`,
      ),
    ).toBeGreaterThan(0);
  });
});
