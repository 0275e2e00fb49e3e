import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Integration tests spawn real processes (sshd, serve, the CLI); 2 cores are shared by all.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two files at a time even on 2 cores (vitest's default there is one): most integration
    // files spend their time waiting on child processes, sleeps and fsyncs, and one at a time
    // the suite used under one core (24.5 CPU-minutes in 26 minutes).
    maxWorkers: 2,
  },
});
