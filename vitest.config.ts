import { defineConfig } from "vitest/config";

// `unit` needs no server. `e2e` runs the real-server suites of test/e2e/ (PostgreSQL, Vault and OpenTofu on
// 127.0.0.1); its globalSetup builds or finds the tools once (tools/build.sh) and skips the suite outside CI
// when they cannot be had.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
