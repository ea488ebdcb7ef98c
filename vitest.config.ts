import { defineConfig } from "vitest/config";

// two projects: `unit` needs no server; `e2e` deploys to real PostgreSQL and OpenBao on loopback.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          // a cold toolchain build (Go) happens in globalSetup; tests themselves deploy and query servers.
          testTimeout: 600_000,
          hookTimeout: 3_600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
