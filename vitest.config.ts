import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Integration tests spawn real processes (sshd, serve, the CLI); 2 cores are shared by all.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
