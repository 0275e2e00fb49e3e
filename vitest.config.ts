import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Integration tests spawn real processes (sshd, serve, the CLI); 2 cores are shared by all.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
