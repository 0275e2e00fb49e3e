import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Integration tests spawn real processes (sshd, serve, the CLI); 2 cores are shared by all.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Three files at a time on 2 cores (vitest's default there is one): most integration
    // files spend their time waiting on child processes, throttled uploads, sleeps and fsyncs;
    // one at a time the suite used under one core (24.5 CPU-minutes in 26 minutes), and two
    // at a time still left the cores idle in the throttled files (two-backups, packs-prune).
    maxWorkers: 3,
  },
});
